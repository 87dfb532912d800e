package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/mattermost/mattermost/server/public/model"
)

// Op names, one per `BoxOp` variant of agent/src/session/delta.rs.
const (
	OpOpen      = "open"
	OpFirstLine = "first_line"
	OpAddLine   = "add_line"
	OpSetStatus = "set_status"
	OpTokens    = "tokens"
	OpClose     = "close"
	OpRetract   = "retract"
	OpRestored  = "restored"
)

// Limits of one batch. The agent sends at most one batch per throttle window for all its
// sessions, so these are far above what it sends and only stop a broken or hostile client.
const (
	maxBodyBytes      = 1 << 20
	maxDeltas         = 500
	maxOpsPerDelta    = 2000
	maxSessionKeyLen  = 512
	maxTextBytes      = 4000
	maxAgentIDLen     = 128
	maxDepth          = 16
	maxErrorTextBytes = 2000
)

// Op is one validated op; which fields mean something depends on Op.
type Op struct {
	Op        string
	AgentID   string
	StartedMs int64
	// Ms is a first_line op's transcript time.
	Ms      int64
	Depth   uint8
	Kind    string
	Text    string
	Status  string
	Index   *uint64
	Tokens  *uint64
	State   string
	EndedMs int64
	Error   string
}

// Delta is one session's ops in a batch.
type Delta struct {
	SessionKey string `json:"session_key"`
	ChannelID  string `json:"channel_id"`
	RootID     string `json:"root_id"`
	// Seq numbers the deltas of one box: 1 for the one that opens it, then +1 each.
	Seq uint64 `json:"seq"`
	// Snapshot: ops hold the whole box from its open; the plugin replaces what it has (the
	// agent's answer to a gap).
	Snapshot bool              `json:"snapshot"`
	RawOps   []json.RawMessage `json:"ops"`
	ops      []Op
}

// BatchRequest is the body of POST /api/v1/batch.
type BatchRequest struct {
	Deltas []Delta `json:"deltas"`
}

// The wire shape of each op: decoded strictly, so a field that belongs to another op (or to no
// op) is refused rather than silently dropped.
type (
	wireOpen struct {
		Op        string `json:"op"`
		AgentID   string `json:"agent_id"`
		StartedMs *int64 `json:"started_ms"`
		FollowsMs *int64 `json:"follows_ms"`
	}
	wireFirstLine struct {
		Op string `json:"op"`
		Ms *int64 `json:"ms"`
	}
	wireAddLine struct {
		Op     string  `json:"op"`
		Depth  uint8   `json:"depth"`
		Kind   string  `json:"kind"`
		Text   *string `json:"text"`
		Status string  `json:"status"`
	}
	wireSetStatus struct {
		Op     string  `json:"op"`
		Index  *uint64 `json:"index"`
		Status string  `json:"status"`
	}
	wireTokens struct {
		Op     string  `json:"op"`
		Tokens *uint64 `json:"tokens"`
	}
	wireClose struct {
		Op      string `json:"op"`
		State   string `json:"state"`
		EndedMs *int64 `json:"ended_ms"`
		Error   string `json:"error"`
	}
	wireBare struct {
		Op string `json:"op"`
	}
)

// decodeStrict decodes exactly one JSON value into v, refusing unknown fields and trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// parseBatch decodes and validates a whole batch; any error names the place (deltas[i].ops[j])
// and nothing of the batch is applied.
func parseBatch(body []byte) (*BatchRequest, error) {
	var req BatchRequest
	if err := decodeStrict(body, &req); err != nil {
		return nil, fmt.Errorf("body is not a valid batch: %w", err)
	}
	if len(req.Deltas) == 0 {
		return nil, errors.New("deltas: empty; send at least one delta")
	}
	if len(req.Deltas) > maxDeltas {
		return nil, fmt.Errorf("deltas: %d deltas, at most %d per batch", len(req.Deltas), maxDeltas)
	}
	for i := range req.Deltas {
		if err := req.Deltas[i].validate(); err != nil {
			return nil, fmt.Errorf("deltas[%d]: %w", i, err)
		}
	}
	return &req, nil
}

func (d *Delta) validate() error {
	if d.SessionKey == "" || len(d.SessionKey) > maxSessionKeyLen || !utf8.ValidString(d.SessionKey) {
		return fmt.Errorf("session_key: required, valid UTF-8, at most %d bytes", maxSessionKeyLen)
	}
	for _, r := range d.SessionKey {
		if r < 0x20 || r == 0x7f {
			return errors.New("session_key: control characters are not allowed")
		}
	}
	if !model.IsValidId(d.ChannelID) {
		return fmt.Errorf("channel_id: %q is not a Mattermost id (26 lowercase letters and digits)", d.ChannelID)
	}
	if d.RootID != "" && !model.IsValidId(d.RootID) {
		return fmt.Errorf("root_id: %q is not a Mattermost id", d.RootID)
	}
	if d.Seq == 0 {
		return errors.New("seq: required, starts at 1")
	}
	if len(d.RawOps) == 0 || len(d.RawOps) > maxOpsPerDelta {
		return fmt.Errorf("ops: between 1 and %d ops", maxOpsPerDelta)
	}
	d.ops = make([]Op, 0, len(d.RawOps))
	for j, raw := range d.RawOps {
		op, err := parseOp(raw)
		if err != nil {
			return fmt.Errorf("ops[%d]: %w", j, err)
		}
		if op.Op == OpOpen && j != 0 {
			return fmt.Errorf("ops[%d]: open must be the first op of a delta", j)
		}
		d.ops = append(d.ops, op)
	}
	opens := d.ops[0].Op == OpOpen
	if d.Snapshot && !opens {
		return errors.New("snapshot: a snapshot's first op must be open")
	}
	if opens && !d.Snapshot && d.Seq != 1 {
		return fmt.Errorf("seq: a delta that opens a box has seq 1, got %d (or set snapshot)", d.Seq)
	}
	return nil
}

func parseOp(raw json.RawMessage) (Op, error) {
	var bare struct {
		Op string `json:"op"`
	}
	if err := json.Unmarshal(raw, &bare); err != nil {
		return Op{}, fmt.Errorf("not an op object: %w", err)
	}
	switch bare.Op {
	case OpOpen:
		var w wireOpen
		if err := decodeStrict(raw, &w); err != nil {
			return Op{}, fmt.Errorf("open: %w", err)
		}
		if w.AgentID == "" || len(w.AgentID) > maxAgentIDLen || w.StartedMs == nil {
			return Op{}, fmt.Errorf("open: agent_id (1..%d bytes) and started_ms are required", maxAgentIDLen)
		}
		return Op{Op: OpOpen, AgentID: w.AgentID, StartedMs: *w.StartedMs}, nil
	case OpFirstLine:
		var w wireFirstLine
		if err := decodeStrict(raw, &w); err != nil || w.Ms == nil {
			return Op{}, fmt.Errorf("first_line: needs exactly {op, ms}: %v", err)
		}
		return Op{Op: OpFirstLine, Ms: *w.Ms}, nil
	case OpAddLine:
		var w wireAddLine
		if err := decodeStrict(raw, &w); err != nil {
			return Op{}, fmt.Errorf("add_line: %w", err)
		}
		switch {
		case w.Text == nil || len(*w.Text) > maxTextBytes || !utf8.ValidString(*w.Text):
			return Op{}, fmt.Errorf("add_line: text is required, valid UTF-8, at most %d bytes", maxTextBytes)
		case w.Depth > maxDepth:
			return Op{}, fmt.Errorf("add_line: depth %d, at most %d", w.Depth, maxDepth)
		case w.Kind != KindText && w.Kind != KindTool && w.Kind != KindSubAgent && w.Kind != KindSubAgentEnd:
			return Op{}, fmt.Errorf("add_line: kind %q, expected text, tool, sub_agent or sub_agent_end", w.Kind)
		case !validStatus(w.Status, true):
			return Op{}, fmt.Errorf("add_line: status %q, expected none, ok or err", w.Status)
		}
		return Op{Op: OpAddLine, Depth: w.Depth, Kind: w.Kind, Text: *w.Text, Status: w.Status}, nil
	case OpSetStatus:
		var w wireSetStatus
		if err := decodeStrict(raw, &w); err != nil {
			return Op{}, fmt.Errorf("set_status: %w", err)
		}
		if w.Index == nil || !validStatus(w.Status, false) {
			return Op{}, errors.New("set_status: index and status (none, ok or err) are required")
		}
		return Op{Op: OpSetStatus, Index: w.Index, Status: w.Status}, nil
	case OpTokens:
		var w wireTokens
		if err := decodeStrict(raw, &w); err != nil || w.Tokens == nil {
			return Op{}, fmt.Errorf("tokens: needs exactly {op, tokens}: %v", err)
		}
		return Op{Op: OpTokens, Tokens: w.Tokens}, nil
	case OpClose:
		var w wireClose
		if err := decodeStrict(raw, &w); err != nil {
			return Op{}, fmt.Errorf("close: %w", err)
		}
		if w.State != StateDone && w.State != StateError && w.State != StateInterrupted {
			return Op{}, fmt.Errorf("close: state %q, expected done, error or interrupted", w.State)
		}
		if w.EndedMs == nil || len(w.Error) > maxErrorTextBytes {
			return Op{}, fmt.Errorf("close: ended_ms is required, error at most %d bytes", maxErrorTextBytes)
		}
		return Op{Op: OpClose, State: w.State, EndedMs: *w.EndedMs, Error: w.Error}, nil
	case OpRetract, OpRestored:
		var w wireBare
		if err := decodeStrict(raw, &w); err != nil {
			return Op{}, fmt.Errorf("%s: takes no fields: %w", bare.Op, err)
		}
		return Op{Op: bare.Op}, nil
	default:
		return Op{}, fmt.Errorf("unknown op %q", bare.Op)
	}
}

func validStatus(s string, emptyOK bool) bool {
	return (emptyOK && s == "") || s == StatusNone || s == StatusOk || s == StatusErr
}
