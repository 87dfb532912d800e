package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestASilentBoxIsMarkedInterruptedAndAnOldFinishedOneDeleted(t *testing.T) {
	e := newEnv(t, nil)
	e.batch(delta(1, opOpen(), opLine("working")))
	e.batch(deltaFor("done-long-ago", channelA, 1, opOpen()), deltaFor("done-long-ago", channelA, 2, opClose(StateDone, startedMs+1000)))
	// A key outside the plugin's prefix (the scheduler's, or anything else) is never touched.
	if appErr := e.api.KVSet("someone_else", []byte("x")); appErr != nil {
		t.Fatal(appErr)
	}

	e.clock.advance(29 * time.Minute)
	if err := e.p.cleanup(); err != nil {
		t.Fatal(err)
	}
	if got := e.session(sessKey); got.State != StateActive {
		t.Fatalf("29 minutes of silence is not yet idle: %s", got.State)
	}

	e.clock.advance(2 * time.Minute)
	if err := e.p.cleanup(); err != nil {
		t.Fatal(err)
	}
	got := e.session(sessKey)
	if got.State != StateInterrupted {
		t.Fatalf("31 minutes of silence: %s", got.State)
	}
	post, _ := e.api.GetPost(got.PostID)
	if !strings.Contains(post.Message, "[INTERRUPTED] 31m") {
		t.Errorf("the post gets the final box: %q", post.Message)
	}
	if e.session("done-long-ago") == nil {
		t.Fatalf("finished 31 minutes ago is kept")
	}

	e.clock.advance(30 * time.Minute)
	if err := e.p.cleanup(); err != nil {
		t.Fatal(err)
	}
	if e.session("done-long-ago") != nil {
		t.Errorf("finished over an hour ago is deleted")
	}
	if e.session(sessKey) == nil {
		t.Errorf("interrupted 30 minutes ago is kept")
	}
	if v, _ := e.api.KVGet("someone_else"); string(v) != "x" {
		t.Errorf("a foreign key was touched")
	}
	if len(e.api.Posts()) != 2 {
		t.Errorf("posts stay when their record goes")
	}
}

func TestAnIdleBoxThatMovedMeanwhileIsLeftAlone(t *testing.T) {
	e := newEnv(t, nil)
	e.batch(delta(1, opOpen()))
	e.clock.advance(31 * time.Minute)
	all, err := e.p.listSessions()
	if err != nil {
		t.Fatal(err)
	}
	// A batch (on another node) lands between the job's read and its write.
	e.batch(delta(2, opLine("still here")))
	if ok, err := e.p.save(sessKey, all[0].raw, nil); err != nil || ok {
		t.Fatalf("compare-and-set must refuse a stale write: ok=%v err=%v", ok, err)
	}
	if err := e.p.cleanup(); err != nil {
		t.Fatal(err)
	}
	if got := e.session(sessKey); got.State != StateActive {
		t.Errorf("the box moved 0 s ago: %s", got.State)
	}
}

func TestActivationSchedulesTheCleanupJobThroughTheClusterScheduler(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.p.OnActivate(); err != nil {
		t.Fatal(err)
	}
	// The scheduler runs the job at once in its own goroutine and then records the run (its
	// record and mutex are how one node at a time runs it).
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(e.api.KVKeys(), "cron_livestatus_cleanup") {
		if time.Now().After(deadline) {
			t.Fatalf("the job never ran: keys %v, log %v", e.api.KVKeys(), e.api.Logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := e.p.OnDeactivate(); err != nil {
		t.Errorf("deactivate: %v", err)
	}
}
