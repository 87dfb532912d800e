package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/mattermost/mattermost/server/public/plugin/plugintest"
	"github.com/stretchr/testify/mock"
)

// strictPlugin is a plugin on a plugintest mock that expects only configuration and bot setup:
// any KV, post or WebSocket call fails the test, which is how these tests see "nothing stored".
func strictPlugin(t *testing.T) (*Plugin, *plugintest.API) {
	api := &plugintest.API{}
	api.On("LoadPluginConfiguration", mock.Anything).Run(func(args mock.Arguments) {
		args.Get(0).(*configuration).SharedSecret = secret
	}).Return(nil)
	api.On("EnsureBotUser", mock.Anything).Return("livestatusbot0000000000000", nil)
	p := &Plugin{}
	p.SetAPI(api)
	if err := p.OnConfigurationChange(); err != nil {
		t.Fatal(err)
	}
	if err := p.setup(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.AssertExpectations(t) })
	return p, api
}

func TestWritesWithoutTheRightSecretAreRefusedAndStoreNothing(t *testing.T) {
	p, _ := strictPlugin(t)
	body := `{"deltas":[` + delta(1, opOpen()) + `]}`
	for name, h := range map[string]map[string]string{
		"no header":      {"Content-Type": "application/json"},
		"wrong secret":   {"Content-Type": "application/json", "Authorization": "Bearer " + secret + "x"},
		"prefix only":    {"Content-Type": "application/json", "Authorization": "Bearer " + secret[:4]},
		"not bearer":     {"Content-Type": "application/json", "Authorization": "Basic " + secret},
		"user id header": {"Content-Type": "application/json", "Mattermost-User-Id": alice},
	} {
		w := serve(p, "POST", "/api/v1/batch", body, h)
		if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "shared secret") {
			t.Errorf("%s: %d %s", name, w.Code, w.Body.String())
		}
	}
}

func TestBadBatchesAreRefusedWholeWithTheReason(t *testing.T) {
	p, _ := strictPlugin(t)
	good := delta(1, opOpen())
	cases := []struct {
		name, body string
		code       int
		says       string
	}{
		{"not JSON", `{"deltas":[`, 400, "not a valid batch"},
		{"unknown top-level field", `{"deltas":[` + good + `],"extra":1}`, 400, `unknown field "extra"`},
		{"unknown delta field", `{"deltas":[` + strings.Replace(good, `"seq"`, `"colour":"red","seq"`, 1) + `]}`, 400, `unknown field "colour"`},
		{"field of another op", `{"deltas":[` + delta(1, opOpen(), `{"op":"tokens","tokens":1,"text":"x"}`) + `]}`, 400, "deltas[0]: ops[1]: tokens"},
		{"unknown op", `{"deltas":[` + delta(1, opOpen(), `{"op":"explode"}`) + `]}`, 400, `unknown op "explode"`},
		{"trailing data", `{"deltas":[` + good + `]} {}`, 400, "after the JSON value"},
		{"empty", `{"deltas":[]}`, 400, "empty"},
		{"bad channel", `{"deltas":[` + strings.Replace(good, `"channel_id":"`+channelA, `"channel_id":"town-square`, 1) + `]}`, 400, "channel_id"},
		{"open not first", `{"deltas":[` + delta(2, opLine("x"), opOpen()) + `]}`, 400, "open must be the first op"},
		{"open at seq 2", `{"deltas":[` + delta(2, opOpen()) + `]}`, 400, "seq 1"},
		{"bad state", `{"deltas":[` + delta(2, opClose("finished", 1)) + `]}`, 400, "expected done"},
		{"good then bad", `{"deltas":[` + good + `,` + delta(2, `{"op":"add_line","kind":"poem","text":"x"}`) + `]}`, 400, "deltas[1]: ops[0]: add_line: kind"},
		{"oversized", `{"deltas":[` + delta(1, opOpen(), opLine(strings.Repeat("x", 3000))) + strings.Repeat(`,`+delta(2, opLine(strings.Repeat("y", 3000))), 400) + `]}`, 413, "over 1 MiB"},
	}
	for _, c := range cases {
		w := serve(p, "POST", "/api/v1/batch", c.body, writer)
		var answer struct{ Error string }
		mustJSON(t, w.Body, &answer)
		if w.Code != c.code || !strings.Contains(answer.Error, c.says) {
			t.Errorf("%s: got %d %s, want %d mentioning %q", c.name, w.Code, answer.Error, c.code, c.says)
		}
	}
	w := serve(p, "POST", "/api/v1/batch", `{"deltas":[`+good+`]}`, map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "text/plain"})
	if w.Code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: %d", w.Code)
	}
}

func TestReadsNeedALoggedInUser(t *testing.T) {
	p, _ := strictPlugin(t)
	for _, path := range []string{"/api/v1/sessions", "/api/v1/sessions/" + sessKey} {
		if w := serve(p, "GET", path, "", nil); w.Code != http.StatusUnauthorized {
			t.Errorf("%s without Mattermost-User-Id: %d", path, w.Code)
		}
	}
}

func TestANonMemberCannotReadASessionThroughTheMock(t *testing.T) {
	p, api := strictPlugin(t)
	rec := `{"session_key":"k","channel_id":"` + channelB + `","state":"active","lines":[]}`
	api.On("KVGet", kvKey("k")).Return([]byte(rec), nil)
	api.On("GetChannelMember", channelB, mallory).Return(nil, nil).Unset()
	api.On("GetChannelMember", channelB, mallory).Return(nil, appErr404())
	w := serve(p, "GET", "/api/v1/sessions/k", "", asUser(mallory))
	if w.Code != http.StatusNotFound {
		t.Errorf("%d %s", w.Code, w.Body.String())
	}
}
