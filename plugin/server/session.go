package main

import (
	"fmt"
)

// Box states as the agent names them (`BoxState` in agent/src/session/delta.rs).
const (
	StateActive      = "active"
	StateDone        = "done"
	StateError       = "error"
	StateInterrupted = "interrupted"
)

// Line kinds and statuses (`LineKind`, `LineStatus` in delta.rs).
const (
	KindText        = "text"
	KindTool        = "tool"
	KindSubAgent    = "sub_agent"
	KindSubAgentEnd = "sub_agent_end"

	StatusNone = "none"
	StatusOk   = "ok"
	StatusErr  = "err"
)

// Line is one line of a box.
type Line struct {
	Depth  uint8  `json:"depth"`
	Kind   string `json:"kind"`
	Text   string `json:"text"`
	Status string `json:"status"`
}

// Session is what the plugin keeps per session key: the box of its current (or last) turn. It is
// stored as JSON in the KV store, sent whole in WebSocket events, and returned by the read API,
// so the webapp has one shape to draw.
type Session struct {
	SessionKey string `json:"session_key"`
	ChannelID  string `json:"channel_id"`
	RootID     string `json:"root_id,omitempty"`
	PostID     string `json:"post_id,omitempty"`
	AgentID    string `json:"agent_id"`
	// Seq is the last seq applied to this box; the next delta must carry Seq+1.
	Seq       uint64 `json:"seq"`
	State     string `json:"state"`
	StartedMs int64  `json:"started_ms"`
	// FirstLineMs is the transcript time of the turn's first line (0: none yet). The duration
	// counts from it, as the agent's does: its replay knows no lock.
	FirstLineMs int64  `json:"first_line_ms,omitempty"`
	EndedMs     int64  `json:"ended_ms,omitempty"`
	Error       string `json:"error,omitempty"`
	Tokens      uint64 `json:"tokens"`
	// Dropped counts lines removed from the front to keep at most MaxStatusLines; a line's index
	// in the agent's numbering is Dropped + its position in Lines.
	Dropped uint64 `json:"dropped"`
	Lines   []Line `json:"lines"`
	// UpdatedMs is when the plugin last applied a delta: the cleanup job's idle clock.
	UpdatedMs int64 `json:"updated_ms"`
	// Retracted: the agent withdrew the box (a lock that was no turn); the record is deleted.
	Retracted bool `json:"-"`
}

// CountedFrom is where the box's duration counts from: the turn's first transcript line once
// there is one, else the box's opening (agent/src/session/delta.rs, BoxModel::counted_from).
func (s *Session) CountedFrom() int64 {
	if s.FirstLineMs != 0 {
		return s.FirstLineMs
	}
	return s.StartedMs
}

// Finished reports whether the box reached its final state.
func (s *Session) Finished() bool { return s.State != StateActive }

// apply folds ops into s. keep is MaxStatusLines. It returns an error naming the op for ops that
// make no sense on this box; the caller validated the shapes already.
func (s *Session) apply(ops []Op, keep int) error {
	for i, op := range ops {
		switch op.Op {
		case OpOpen:
			s.AgentID = op.AgentID
			s.StartedMs = op.StartedMs
			s.FirstLineMs = 0
			s.State = StateActive
			s.EndedMs = 0
			s.Error = ""
			s.Tokens = 0
			s.Dropped = 0
			s.Lines = nil
		case OpFirstLine:
			s.FirstLineMs = op.Ms
		case OpRestored:
			// Only the agent's own restart bookkeeping needs it.
		case OpAddLine:
			s.Lines = append(s.Lines, Line{Depth: op.Depth, Kind: op.Kind, Text: op.Text, Status: orNone(op.Status)})
			if over := len(s.Lines) - keep; over > 0 {
				s.Lines = append([]Line(nil), s.Lines[over:]...)
				s.Dropped += uint64(over)
			}
		case OpSetStatus:
			if *op.Index < s.Dropped {
				continue // the line scrolled out; nothing shows it any more
			}
			pos := *op.Index - s.Dropped
			if pos >= uint64(len(s.Lines)) {
				return fmt.Errorf("ops[%d] set_status: line %d does not exist (the box has %d lines)", i, *op.Index, s.Dropped+uint64(len(s.Lines)))
			}
			s.Lines[pos].Status = op.Status
		case OpTokens:
			s.Tokens = *op.Tokens
		case OpClose:
			s.State = op.State
			s.EndedMs = op.EndedMs
			s.Error = op.Error
		case OpRetract:
			s.Retracted = true
		}
	}
	return nil
}

func orNone(status string) string {
	if status == "" {
		return StatusNone
	}
	return status
}
