package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"openclaw-livestatus/plugin/harness/memapi"
)

const (
	secret  = "harness-secret"
	channel = "channelaaaaaaaaaaaaaaaaaaa"
	root    = "rootpostaaaaaaaaaaaaaaaaaa"
	alice   = "aliceaaaaaaaaaaaaaaaaaaaaa"
	mallory = "mallorymmmmmmmmmmmmmmmmmmm"
	key     = "agent:main:mattermost:channel:" + channel + ":thread:" + root
)

// bundle is the built dist tar.gz: LIVESTATUS_BUNDLE (make harness-test sets it), else the one
// in ../dist.
func bundle(t *testing.T) string {
	if b := os.Getenv("LIVESTATUS_BUNDLE"); b != "" {
		return b
	}
	found, _ := filepath.Glob("../dist/com.openclaw.livestatus-*.tar.gz")
	if len(found) == 0 {
		t.Skip("no plugin bundle: run `make -C plugin dist` (make -C plugin harness-test does)")
	}
	return found[len(found)-1]
}

type client struct {
	t    *testing.T
	base string
}

func (c client) do(method, path, body string, header map[string]string) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return res.StatusCode, b
}

func (c client) batch(deltas ...string) (int, string) {
	code, b := c.do("POST", "/plugins/com.openclaw.livestatus/api/v1/batch", `{"deltas":[`+strings.Join(deltas, ",")+`]}`,
		map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "application/json"})
	return code, string(b)
}

func delta(seq int, ops ...string) string {
	return fmt.Sprintf(`{"session_key":%q,"channel_id":%q,"root_id":%q,"seq":%d,"ops":[%s]}`, key, channel, root, seq, strings.Join(ops, ","))
}

func line(depth int, kind, text, status string) string {
	return fmt.Sprintf(`{"op":"add_line","depth":%d,"kind":%q,"text":%q,"status":%q}`, depth, kind, text, status)
}

func TestTheBuiltBundleRunsUnderThePluginHostAndStreamsATurn(t *testing.T) {
	h, err := Start(bundle(t), map[string]any{"SharedSecret": secret}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	h.API.AddMember(channel, alice)
	c := client{t: t, base: h.URL}

	code, body := c.do("GET", "/plugins/com.openclaw.livestatus/api/v1/health", "", nil)
	var health struct {
		ID           string   `json:"id"`
		Version      string   `json:"version"`
		Capabilities []string `json:"capabilities"`
	}
	if err := json.Unmarshal(body, &health); err != nil || code != 200 || health.ID != PluginID || health.Version != "0.1.0" {
		t.Fatalf("health from the built executable: %d %s", code, body)
	}

	started := time.Now().Add(-2 * time.Second).UnixMilli()
	steps := [][]string{
		{delta(1, fmt.Sprintf(`{"op":"open","agent_id":"main","started_ms":%d}`, started), line(0, "text", "Reading live-status source code...", "none"))},
		{delta(2, line(0, "tool", "exec: ls /agents/sessions", "none"))},
		{delta(3, `{"op":"set_status","index":1,"status":"ok"}`, line(0, "tool", "exec: grep -r live-status", "none"))},
		{delta(4, `{"op":"set_status","index":2,"status":"err"}`, line(0, "sub_agent", "Sub-agent: proj035-planner", "none"), line(1, "text", "Reading protocol...", "none"))},
		{delta(5, line(1, "sub_agent_end", "[DONE] 28s", "none"), line(0, "text", "Plan ready. Awaiting approval.", "none"), `{"op":"tokens","tokens":12400}`)},
	}
	for i, step := range steps {
		if code, body := c.batch(step...); code != 200 {
			t.Fatalf("step %d: %d %s", i+1, code, body)
		}
	}

	writes := h.API.Writes()
	if len(writes) != 1 || writes[0].Op != "create" {
		t.Fatalf("one post, no edit while the turn streams: %+v", writes)
	}
	if n := len(h.API.Events()); n != len(steps) {
		t.Errorf("one WebSocket event per delta: %d", n)
	}

	// A reader: the server injects Mattermost-User-Id; a client cannot set it itself.
	sessionPath := "/plugins/com.openclaw.livestatus/api/v1/sessions/" + url.PathEscape(key)
	code, body = c.do("GET", sessionPath, "", map[string]string{UserHeader: alice})
	var s struct {
		PostID string `json:"post_id"`
		Seq    int    `json:"seq"`
		Lines  []struct{ Text string }
	}
	if err := json.Unmarshal(body, &s); err != nil || code != 200 || s.Seq != 5 || len(s.Lines) != 7 || s.PostID != writes[0].PostID {
		t.Fatalf("alice reads the session: %d %s", code, body)
	}
	if code, _ := c.do("GET", sessionPath, "", map[string]string{UserHeader: mallory}); code != 404 {
		t.Errorf("a non-member: %d", code)
	}
	if code, _ := c.do("GET", sessionPath, "", map[string]string{"Mattermost-User-Id": alice}); code != 401 {
		t.Errorf("a forged Mattermost-User-Id is stripped: %d", code)
	}
	if code, _ := c.do("POST", "/plugins/com.openclaw.livestatus/api/v1/batch", `{"deltas":[`+delta(6, line(0, "text", "x", "none"))+`]}`,
		map[string]string{"Authorization": "Bearer wrong", "Content-Type": "application/json"}); code != 401 {
		t.Errorf("a wrong secret: %d", code)
	}

	if code, body := c.batch(delta(8, line(0, "text", "lost", "none"))); code != 409 || !strings.Contains(body, `"seq":5`) {
		t.Errorf("a gap answers the seq the plugin has: %d %s", code, body)
	}
	if code, body := c.batch(delta(6, fmt.Sprintf(`{"op":"close","state":"done","ended_ms":%d}`, started+53_000))); code != 200 {
		t.Fatalf("close: %d %s", code, body)
	}

	writes = h.API.Writes()
	if len(writes) != 2 || writes[1].Op != "update" {
		t.Fatalf("the final box is written once at turn end: %+v", writes)
	}
	want := "```\nmain\n  Reading live-status source code...\n  exec: ls /agents/sessions [OK]\n  exec: grep -r live-status [ERR]\n  Sub-agent: proj035-planner\n    Reading protocol...\n    [DONE] 28s\n  Plan ready. Awaiting approval.\n[DONE] 53s | 12.4k tokens\n```"
	if writes[1].Message != want {
		t.Errorf("final message\n got %q\nwant %q", writes[1].Message, want)
	}
	posts := h.API.Posts()
	if len(posts) != 1 || posts[0].Type != "custom_livestatus" || posts[0].RootId != root {
		t.Errorf("posts: %+v", posts)
	}
	for _, k := range h.API.KVKeys() {
		if !strings.HasPrefix(k, "ls_s_") && !strings.HasPrefix(k, "cron_") && !strings.HasPrefix(k, "mutex_") {
			t.Errorf("a KV key outside the plugin's prefixes: %s", k)
		}
	}

	// The same view over the harness's own endpoints, for tests in other languages.
	code, body = c.do("GET", "/harness/writes", "", nil)
	var overHTTP []memapi.PostWrite
	if err := json.Unmarshal(body, &overHTTP); err != nil || code != 200 || len(overHTTP) != 2 {
		t.Errorf("/harness/writes: %d %s", code, body)
	}

	if out := os.Getenv("LIVESTATUS_RECORD_EVENTS"); out != "" {
		recordEvents(t, h.API.Events(), out)
	}
}

// recordEvents saves the events the real plugin published, for the webapp's browser test.
func recordEvents(t *testing.T, events []memapi.Event, path string) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(events); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
