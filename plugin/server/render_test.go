package main

import "testing"

// The same cases as agent/src/render/format.rs, so both ends print the same box.
func TestElapsedAndTokensMatchTheAgent(t *testing.T) {
	for ms, want := range map[int64]string{0: "0s", 38_999: "38s", 60_000: "1m00s", 245_000: "4m05s", 3_720_000: "1h02m", -5_000: "0s"} {
		if got := formatElapsed(ms); got != want {
			t.Errorf("elapsed %d: %s, want %s", ms, got, want)
		}
	}
	for n, want := range map[uint64]string{980: "980", 1_000: "1k", 1_234: "1.2k", 12_400: "12.4k", 12_449: "12.4k", 99_949: "99.9k", 99_950: "100k", 123_456: "123k", 999_499: "999k", 999_500: "1M", 1_200_000: "1.2M"} {
		if got := formatTokens(n); got != want {
			t.Errorf("tokens %d: %s, want %s", n, got, want)
		}
	}
}

func TestTheMessageFenceCannotBeClosedByALine(t *testing.T) {
	s := &Session{AgentID: "main", State: StateActive, Lines: []Line{{Kind: KindText, Text: "```rm -rf```"}}}
	got := renderMessage(s, 0)
	if got[:4] != "````" {
		t.Errorf("%q", got)
	}
}

func TestSubAgentsAreIndentedAndToolsMarked(t *testing.T) {
	s := &Session{AgentID: "main", State: StateError, StartedMs: 0, EndedMs: 53_000, Error: "rate\nlimited", Lines: []Line{
		{Kind: KindTool, Text: "exec: grep", Status: StatusErr},
		{Kind: KindSubAgent, Text: "Sub-agent: planner"},
		{Depth: 1, Kind: KindText, Text: "Reading protocol..."},
		{Depth: 1, Kind: KindSubAgentEnd, Text: "[DONE] 28s"},
	}}
	want := "main\n  exec: grep [ERR]\n  Sub-agent: planner\n    Reading protocol...\n    [DONE] 28s\n[ERROR] 53s | rate limited"
	if got := renderPlain(s, 99_000); got != want {
		t.Errorf("\n got %q\nwant %q", got, want)
	}
}

// The agent's replay knows no lock: the duration counts from the turn's first transcript line
// once the first_line op brought it, on both ends (agent: BoxModel::counted_from).
func TestTheDurationCountsFromTheFirstLine(t *testing.T) {
	s := &Session{AgentID: "main", State: StateActive, StartedMs: 1_000}
	ops := []Op{{Op: OpFirstLine, Ms: 3_000}, {Op: OpClose, State: StateDone, EndedMs: 5_500}}
	if err := s.apply(ops, 10); err != nil {
		t.Fatal(err)
	}
	if got, want := renderPlain(s, 9_000), "main\n[DONE] 2s"; got != want {
		t.Errorf("\n got %q\nwant %q", got, want)
	}
	s.apply([]Op{{Op: OpOpen, AgentID: "main", StartedMs: 10_000}}, 10)
	if s.FirstLineMs != 0 || s.CountedFrom() != 10_000 {
		t.Errorf("a new open forgets the old first line: %+v", s)
	}
}
