package main

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/mattermost/mattermost/server/public/model"
)

func appErr404() *model.AppError {
	return model.NewAppError("GetChannelMember", "missing", nil, "", http.StatusNotFound)
}

func TestAMemberReadsTheChannelsSessionsAndANonMemberDoesNot(t *testing.T) {
	e := newEnv(t, nil)
	e.batch(delta(1, opOpen(), opLine("hello")))
	e.batch(deltaFor("other", channelB, 1, opOpen()))

	var list struct{ Sessions []Session }
	w := e.do("GET", "/api/v1/sessions", "", asUser(alice))
	mustJSON(t, w.Body, &list)
	if w.Code != 200 || len(list.Sessions) != 1 || list.Sessions[0].SessionKey != sessKey {
		t.Fatalf("alice sees channel A only: %d %+v", w.Code, list)
	}
	w = e.do("GET", "/api/v1/sessions", "", asUser(mallory))
	mustJSON(t, w.Body, &list)
	if len(list.Sessions) != 0 {
		t.Errorf("mallory is in no channel: %+v", list)
	}

	path := "/api/v1/sessions/" + url.PathEscape(sessKey)
	var one Session
	w = e.do("GET", path, "", asUser(alice))
	mustJSON(t, w.Body, &one)
	if w.Code != 200 || one.Lines[0].Text != "hello" {
		t.Errorf("alice reads her session: %d %+v", w.Code, one)
	}
	if w := e.do("GET", path, "", asUser(mallory)); w.Code != http.StatusNotFound {
		t.Errorf("a non-member gets 404: %d", w.Code)
	}
	if w := e.do("GET", "/api/v1/sessions/nope", "", asUser(alice)); w.Code != http.StatusNotFound {
		t.Errorf("unknown key: %d", w.Code)
	}
}

func TestFinishedSessionsLeaveTheActiveList(t *testing.T) {
	e := newEnv(t, nil)
	e.batch(delta(1, opOpen()), delta(2, opClose(StateError, startedMs+2000)))
	var list struct{ Sessions []Session }
	mustJSON(t, e.do("GET", "/api/v1/sessions", "", asUser(alice)).Body, &list)
	if len(list.Sessions) != 0 {
		t.Errorf("%+v", list)
	}
}

func TestHealthTellsVersionCapabilitiesAndCounts(t *testing.T) {
	e := newEnv(t, nil)
	e.batch(delta(1, opOpen()), deltaFor("k2", channelA, 1, opOpen()), deltaFor("k2", channelA, 2, opClose(StateDone, startedMs)))
	var h struct {
		ID             string   `json:"id"`
		Capabilities   []string `json:"capabilities"`
		Sessions       int      `json:"sessions"`
		ActiveSessions int      `json:"active_sessions"`
	}
	w := e.do("GET", "/api/v1/health", "", nil)
	mustJSON(t, w.Body, &h)
	if h.ID != "com.openclaw.livestatus" || h.Sessions != 2 || h.ActiveSessions != 1 || len(h.Capabilities) == 0 {
		t.Errorf("%+v", h)
	}
}

func TestAKVFailureIs500AndSaysToRetry(t *testing.T) {
	e := newEnv(t, nil)
	e.api.KVFail = true
	w := e.do("POST", "/api/v1/batch", `{"deltas":[`+delta(1, opOpen())+`]}`, writer)
	if w.Code != http.StatusInternalServerError || len(e.api.Writes()) != 0 {
		t.Errorf("%d %s", w.Code, w.Body.String())
	}
}

func TestAnEmptySecretIsGeneratedAndSaved(t *testing.T) {
	e := newEnv(t, map[string]any{})
	got := e.p.getConfiguration().SharedSecret
	if len(got) < 40 || e.api.GetPluginConfig()["SharedSecret"] != got {
		t.Errorf("secret %q, saved %v", got, e.api.GetPluginConfig())
	}
	if w := e.do("POST", "/api/v1/batch", `{"deltas":[`+delta(1, opOpen())+`]}`, map[string]string{"Authorization": "Bearer ", "Content-Type": "application/json"}); w.Code != 401 {
		t.Errorf("an empty bearer is refused: %d", w.Code)
	}
}
