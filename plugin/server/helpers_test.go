package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"openclaw-livestatus/plugin/harness/memapi"
)

const (
	secret    = "s3cret-for-tests"
	channelA  = "channelaaaaaaaaaaaaaaaaaaa"
	channelB  = "channelbbbbbbbbbbbbbbbbbbb"
	rootA     = "rootpostaaaaaaaaaaaaaaaaaa"
	alice     = "aliceaaaaaaaaaaaaaaaaaaaaa"
	mallory   = "mallorymmmmmmmmmmmmmmmmmmm"
	sessKey   = "agent:main:mattermost:channel:" + channelA + ":thread:" + rootA
	startedMs = int64(1_760_000_000_000)
)

// fakeClock is a settable clock for the plugin and the KV store.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

type env struct {
	t     *testing.T
	p     *Plugin
	api   *memapi.API
	clock *fakeClock
}

// newEnv is an activated plugin on an in-memory API where alice is a member of channel A.
func newEnv(t *testing.T, config map[string]any) *env {
	t.Helper()
	if config == nil {
		config = map[string]any{"SharedSecret": secret}
	}
	api := memapi.New(config)
	clock := &fakeClock{t: time.UnixMilli(startedMs + 1000)}
	api.SetClock(clock.now)
	api.AddMember(channelA, alice)
	p := &Plugin{now: clock.now}
	p.SetAPI(api)
	if err := p.OnConfigurationChange(); err != nil {
		t.Fatal(err)
	}
	if err := p.setup(); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, p: p, api: api, clock: clock}
}

func (e *env) do(method, path, body string, header map[string]string) *httptest.ResponseRecorder {
	e.t.Helper()
	return serve(e.p, method, path, body, header)
}

func serve(p *Plugin, method, path, body string, header map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	p.ServeHTTP(nil, w, r)
	return w
}

var writer = map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "application/json"}

func asUser(id string) map[string]string { return map[string]string{"Mattermost-User-Id": id} }

// batch posts deltas (each a JSON object text) and decodes the answer.
func (e *env) batch(deltas ...string) (int, []Result) {
	e.t.Helper()
	w := e.do("POST", "/api/v1/batch", `{"deltas":[`+strings.Join(deltas, ",")+`]}`, writer)
	var body struct {
		Results []Result `json:"results"`
		Error   string   `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		e.t.Fatalf("batch answer %d is not JSON: %s", w.Code, w.Body.String())
	}
	if w.Code >= 400 && w.Code != http.StatusConflict {
		e.t.Fatalf("batch answered %d: %s", w.Code, body.Error)
	}
	return w.Code, body.Results
}

// delta builds one delta of sessKey in channel A.
func delta(seq int, ops ...string) string {
	return fmt.Sprintf(`{"session_key":%q,"channel_id":%q,"root_id":%q,"seq":%d,"ops":[%s]}`,
		sessKey, channelA, rootA, seq, strings.Join(ops, ","))
}

func deltaFor(key, channel string, seq int, ops ...string) string {
	return fmt.Sprintf(`{"session_key":%q,"channel_id":%q,"seq":%d,"ops":[%s]}`, key, channel, seq, strings.Join(ops, ","))
}

func opOpen() string {
	return fmt.Sprintf(`{"op":"open","agent_id":"main","started_ms":%d}`, startedMs)
}
func opLine(text string) string {
	return fmt.Sprintf(`{"op":"add_line","depth":0,"kind":"text","text":%q,"status":"none"}`, text)
}
func opTool(text string) string {
	return fmt.Sprintf(`{"op":"add_line","depth":0,"kind":"tool","text":%q,"status":"none"}`, text)
}
func opStatus(i int, st string) string {
	return fmt.Sprintf(`{"op":"set_status","index":%d,"status":%q}`, i, st)
}
func opClose(state string, endedMs int64) string {
	return fmt.Sprintf(`{"op":"close","state":%q,"ended_ms":%d}`, state, endedMs)
}

func (e *env) session(key string) *Session {
	e.t.Helper()
	s, _, err := e.p.load(key)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func countOps(writes []memapi.PostWrite, op string) int {
	n := 0
	for _, w := range writes {
		if w.Op == op {
			n++
		}
	}
	return n
}

func mustJSON(t *testing.T, b *bytes.Buffer, v any) {
	t.Helper()
	if err := json.Unmarshal(b.Bytes(), v); err != nil {
		t.Fatalf("not JSON: %s", b.String())
	}
}
