package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestATurnIsOnePostWrittenOnceAtItsEndAndStreamedOverWebSocket(t *testing.T) {
	e := newEnv(t, nil)

	code, res := e.batch(delta(1, opOpen(), opLine("Reading live-status source code...")))
	if code != http.StatusOK || res[0].Status != ResultApplied || res[0].Seq != 1 || res[0].PostID == "" {
		t.Fatalf("open: %d %+v", code, res)
	}
	e.batch(delta(2, opTool("exec: ls /agents/sessions")))
	e.batch(delta(3, opStatus(1, "ok"), `{"op":"tokens","tokens":12400}`))

	writes := e.api.Writes()
	if len(writes) != 1 || writes[0].Op != "create" {
		t.Fatalf("while the turn streams the post is created once and never edited, got %+v", writes)
	}
	if !strings.Contains(writes[0].Message, "[ACTIVE] main | 1s") || !strings.HasPrefix(writes[0].Message, "```\n") {
		t.Errorf("the post's message is the plain box in a code block: %q", writes[0].Message)
	}
	post := e.api.Posts()[0]
	if post.Type != "custom_livestatus" || post.ChannelId != channelA || post.RootId != rootA || post.GetProp("session_key") != sessKey {
		t.Errorf("post: %+v", post)
	}

	events := e.api.Events()
	if len(events) != 3 {
		t.Fatalf("one event per applied delta, got %d", len(events))
	}
	last := events[2]
	if last.Event != EventUpdate || last.ChannelID != channelA || last.Payload["seq"] != "3" {
		t.Errorf("event: %+v", last)
	}
	var live Session
	if err := json.Unmarshal([]byte(last.Payload["session"].(string)), &live); err != nil {
		t.Fatal(err)
	}
	if len(live.Lines) != 2 || live.Lines[1].Status != StatusOk || live.Tokens != 12400 || live.PostID != post.Id {
		t.Errorf("the event carries the whole box: %+v", live)
	}

	e.clock.advance(52 * 1000 * 1e6)
	e.batch(delta(4, opClose(StateDone, startedMs+53_000)))
	writes = e.api.Writes()
	if countOps(writes, "create") != 1 || countOps(writes, "update") != 1 {
		t.Fatalf("the final box is written once: %+v", writes)
	}
	want := "```\nmain\n  Reading live-status source code...\n  exec: ls /agents/sessions [OK]\n[DONE] 53s | 12.4k tokens\n```"
	if writes[1].Message != want {
		t.Errorf("final message\n got %q\nwant %q", writes[1].Message, want)
	}
	var final Session
	if err := json.Unmarshal([]byte(e.api.Posts()[0].GetProp(PropSnapshot).(string)), &final); err != nil || final.State != StateDone {
		t.Errorf("the post keeps the final box for the webapp: %v %+v", err, final)
	}
}

func TestASeqGapIsAnsweredWithTheSeqThePluginHasAndASnapshotRepairsIt(t *testing.T) {
	e := newEnv(t, nil)
	e.batch(delta(1, opOpen(), opLine("one")))

	code, res := e.batch(delta(3, opLine("three")))
	if code != http.StatusConflict || res[0].Status != ResultGap || res[0].Seq != 1 {
		t.Fatalf("gap: %d %+v", code, res)
	}
	if got := e.session(sessKey); got.Seq != 1 || len(got.Lines) != 1 {
		t.Fatalf("a gap stores nothing: %+v", got)
	}

	snapshot := `{"session_key":"` + sessKey + `","channel_id":"` + channelA + `","root_id":"` + rootA + `","seq":3,"snapshot":true,"ops":[` +
		opOpen() + `,` + opLine("one") + `,` + opLine("two") + `,` + opLine("three") + `]}`
	code, res = e.batch(snapshot)
	if code != http.StatusOK || res[0].Seq != 3 {
		t.Fatalf("snapshot: %d %+v", code, res)
	}
	got := e.session(sessKey)
	if len(got.Lines) != 3 || got.Lines[2].Text != "three" {
		t.Errorf("the snapshot replaces the box: %+v", got.Lines)
	}
	if n := countOps(e.api.Writes(), "create"); n != 1 {
		t.Errorf("a snapshot of the streaming box keeps its post, got %d creates", n)
	}
	if code, res := e.batch(delta(4, opLine("four"))); code != http.StatusOK || res[0].Seq != 4 {
		t.Errorf("deltas follow the snapshot: %d %+v", code, res)
	}
}

func TestAnUnknownSessionIsAGapAtSeqZero(t *testing.T) {
	e := newEnv(t, nil)
	code, res := e.batch(delta(5, opLine("x")))
	if code != http.StatusConflict || res[0].Status != ResultGap || res[0].Seq != 0 {
		t.Fatalf("%d %+v", code, res)
	}
	if len(e.api.KVKeys()) != 0 || len(e.api.Writes()) != 0 {
		t.Errorf("nothing stored for an unknown session")
	}
}

func TestARetriedBatchIsADuplicateAndChangesNothing(t *testing.T) {
	e := newEnv(t, nil)
	e.batch(delta(1, opOpen()), delta(2, opLine("a")))
	before := len(e.api.Events())
	code, res := e.batch(delta(1, opOpen()), delta(2, opLine("a")))
	if code != http.StatusOK || res[0].Status != ResultDuplicate || res[1].Status != ResultDuplicate {
		t.Fatalf("%d %+v", code, res)
	}
	if len(e.api.Events()) != before || countOps(e.api.Writes(), "create") != 1 {
		t.Errorf("a duplicate publishes and posts nothing")
	}
	if got := e.session(sessKey); len(got.Lines) != 1 {
		t.Errorf("lines applied twice: %+v", got.Lines)
	}
}

func TestANewTurnGetsANewPostAndEndsAnUnclosedOne(t *testing.T) {
	e := newEnv(t, nil)
	e.batch(delta(1, opOpen(), opLine("first turn")))
	e.clock.advance(10e9)
	next := strings.Replace(opOpen(), "1760000000000", "1760000010000", 1)
	_, res := e.batch(delta(1, next, opLine("second turn")))
	posts := e.api.Posts()
	if len(posts) != 2 || res[0].PostID != posts[1].Id {
		t.Fatalf("posts %+v result %+v", posts, res)
	}
	if !strings.Contains(posts[0].Message, "[INTERRUPTED]") {
		t.Errorf("the first turn's post is finalised: %q", posts[0].Message)
	}
}

func TestRetractDeletesThePostAndTheRecord(t *testing.T) {
	e := newEnv(t, nil)
	e.batch(delta(1, opOpen()))
	e.batch(delta(2, `{"op":"retract"}`))
	if len(e.api.Posts()) != 0 || e.session(sessKey) != nil {
		t.Errorf("posts %+v", e.api.Posts())
	}
	ev := e.api.Events()
	if ev[len(ev)-1].Event != EventRemoved {
		t.Errorf("events %+v", ev)
	}
}

func TestMoreActiveSessionsThanTheLimitAreRefused(t *testing.T) {
	e := newEnv(t, map[string]any{"SharedSecret": secret, "MaxActiveSessions": 2})
	e.batch(deltaFor("k1", channelA, 1, opOpen()), deltaFor("k2", channelA, 1, opOpen()))
	code, res := e.batch(deltaFor("k3", channelA, 1, opOpen()))
	if code != http.StatusConflict || res[0].Status != ResultRefused || !strings.Contains(res[0].Error, "MaxActiveSessions") {
		t.Fatalf("%d %+v", code, res)
	}
	e.batch(deltaFor("k1", channelA, 2, opClose(StateDone, startedMs+5000)))
	if _, res := e.batch(deltaFor("k3", channelA, 1, opOpen())); res[0].Status != ResultApplied {
		t.Errorf("a finished session frees a place: %+v", res)
	}
}

func TestOnlyTheNewestStatusLinesAreKeptAndCounted(t *testing.T) {
	e := newEnv(t, map[string]any{"SharedSecret": secret, "MaxStatusLines": 3})
	ops := []string{opOpen()}
	for _, s := range []string{"a", "b", "c", "d", "e"} {
		ops = append(ops, opTool(s))
	}
	e.batch(delta(1, ops...))
	e.batch(delta(2, opStatus(0, "ok"), opStatus(4, "err")))
	got := e.session(sessKey)
	if got.Dropped != 2 || len(got.Lines) != 3 || got.Lines[0].Text != "c" || got.Lines[2].Status != StatusErr {
		t.Errorf("%+v", got)
	}
	if !strings.Contains(renderPlain(got, startedMs), "  … 2 earlier\n  c\n") {
		t.Errorf("%q", renderPlain(got, startedMs))
	}
}

func TestASetStatusForALineThePluginNeverSawAsksForASnapshot(t *testing.T) {
	e := newEnv(t, nil)
	e.batch(delta(1, opOpen()))
	code, res := e.batch(delta(2, opStatus(7, "ok")))
	if code != http.StatusConflict || res[0].Status != ResultGap || res[0].Seq != 1 {
		t.Fatalf("%d %+v", code, res)
	}
}
