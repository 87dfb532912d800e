package main

import (
	"encoding/json"
	"fmt"

	"github.com/mattermost/mattermost/server/public/model"
)

// Result statuses of one delta of a batch.
const (
	ResultApplied   = "applied"
	ResultDuplicate = "duplicate" // already applied (a retried batch); nothing changed
	ResultGap       = "gap"       // seq does not follow; Seq says what the plugin has: send a snapshot
	ResultRefused   = "refused"   // e.g. too many active sessions; Error says why
)

// Result answers one delta.
type Result struct {
	SessionKey string `json:"session_key"`
	Status     string `json:"status"`
	// Seq is the seq the plugin has for the session's box after this delta (0: none).
	Seq    uint64 `json:"seq"`
	PostID string `json:"post_id,omitempty"`
	Error  string `json:"error,omitempty"`
}

// WebSocket events (the webapp receives them as custom_com.openclaw.livestatus_<name>).
const (
	EventUpdate  = "session_update"
	EventRemoved = "session_removed"
)

// postProps keys of a custom_livestatus post.
const (
	PropSessionKey = "session_key"
	// PropSnapshot holds the box as JSON: at creation, and the final box at turn end, so the
	// webapp can draw a post whose session record is gone.
	PropSnapshot = "livestatus"
	PostType     = "custom_livestatus"
)

// applyDelta applies one delta; the batch holds applyMu. A KV or post failure is returned as an
// error (the batch answers 500 and the agent retries it; applied deltas then count as duplicates).
func (p *Plugin) applyDelta(d *Delta) (Result, error) {
	cfg := p.getConfiguration()
	res := Result{SessionKey: d.SessionKey}
	var createdPost string
	// Another node (the cleanup job) may write the same record between load and save: retry on a
	// lost compare-and-set with what is stored now.
	for attempt := 0; attempt < 5; attempt++ {
		cur, raw, err := p.load(d.SessionKey)
		if err != nil {
			return res, err
		}
		next, verdict, endedPrev := p.plan(cur, d, cfg)
		if verdict != ResultApplied {
			res.Status = verdict
			if cur != nil {
				res.Seq, res.PostID = cur.Seq, cur.PostID
			}
			if verdict == ResultRefused {
				res.Error = fmt.Sprintf("%d sessions are active, the plugin's MaxActiveSessions; the box goes over REST", cfg.MaxActiveSessions)
			}
			return res, nil
		}
		if endedPrev != nil {
			// A new turn opened while the previous one never closed: that box is over.
			p.finalizePost(endedPrev)
		}
		if next.Retracted {
			ok, err := p.save(d.SessionKey, raw, nil)
			if err != nil || !ok {
				if err != nil {
					return res, err
				}
				continue
			}
			if next.PostID != "" {
				if appErr := p.API.DeletePost(next.PostID); appErr != nil {
					p.API.LogWarn("could not delete a retracted box's post", "post_id", next.PostID, "error", appErr.Error())
				}
			}
			p.publishRemoved(next)
			res.Status = ResultApplied
			return res, nil
		}
		if next.PostID == "" {
			if createdPost == "" {
				post, err := p.createPost(next)
				if err != nil {
					return res, err
				}
				createdPost = post
			}
			next.PostID = createdPost
		}
		ok, err := p.save(d.SessionKey, raw, next)
		if err != nil {
			return res, err
		}
		if !ok {
			continue
		}
		if next.Finished() && (cur == nil || cur.PostID != next.PostID || !cur.Finished()) {
			p.finalizePost(next)
		}
		p.publishUpdate(next)
		res.Status, res.Seq, res.PostID = ResultApplied, next.Seq, next.PostID
		return res, nil
	}
	return res, fmt.Errorf("session %q: the KV store kept changing under the update; retry the batch", d.SessionKey)
}

// plan decides what a delta does to the stored record without side effects: the next record, the
// verdict, and a previous box that the delta ends without its close (to finalise its post).
func (p *Plugin) plan(cur *Session, d *Delta, cfg configuration) (*Session, string, *Session) {
	opens := d.ops[0].Op == OpOpen
	var next *Session
	var endedPrev *Session
	switch {
	case d.Snapshot && cur != nil && !cur.Finished():
		// The same box continues: keep its post.
		next = &Session{SessionKey: cur.SessionKey, ChannelID: cur.ChannelID, RootID: cur.RootID, PostID: cur.PostID}
	case opens:
		if cur != nil && !d.Snapshot && cur.Seq >= 1 && cur.StartedMs == d.ops[0].StartedMs && cur.AgentID == d.ops[0].AgentID {
			return nil, ResultDuplicate, nil
		}
		if cur != nil && !cur.Finished() {
			prev := *cur
			prev.State, prev.EndedMs = StateInterrupted, p.clock().UnixMilli()
			endedPrev = &prev
		}
		if !p.roomForNewBox(d.SessionKey, cfg) {
			return nil, ResultRefused, nil
		}
		next = &Session{SessionKey: d.SessionKey, ChannelID: d.ChannelID, RootID: d.RootID}
	case cur == nil || d.Seq > cur.Seq+1:
		return nil, ResultGap, nil
	case d.Seq <= cur.Seq:
		return nil, ResultDuplicate, nil
	default:
		c := *cur
		c.Lines = append([]Line(nil), cur.Lines...)
		next = &c
	}
	if err := next.apply(d.ops, cfg.MaxStatusLines); err != nil {
		// An op that points at a line the plugin does not have: its state differs from the
		// agent's, which a snapshot repairs.
		p.API.LogWarn("delta does not fit the stored box; asking for a snapshot", "session_key", d.SessionKey, "error", err.Error())
		return nil, ResultGap, nil
	}
	next.Seq = d.Seq
	next.UpdatedMs = p.clock().UnixMilli()
	return next, ResultApplied, endedPrev
}

// roomForNewBox: at most MaxActiveSessions boxes stream at once (the session's own earlier box,
// replaced by this one, does not count).
func (p *Plugin) roomForNewBox(sessionKey string, cfg configuration) bool {
	all, err := p.listSessions()
	if err != nil {
		p.API.LogWarn("could not count active sessions; admitting the box", "error", err.Error())
		return true
	}
	active := 0
	for _, st := range all {
		if !st.s.Finished() && st.s.SessionKey != sessionKey {
			active++
		}
	}
	return active < cfg.MaxActiveSessions
}

func snapshotJSON(s *Session) string {
	b, err := json.Marshal(s)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// createPost creates the box's post once; it is not edited while the turn streams.
func (p *Plugin) createPost(s *Session) (string, error) {
	post := &model.Post{
		UserId:    p.botID,
		ChannelId: s.ChannelID,
		RootId:    s.RootID,
		Type:      PostType,
		Message:   renderMessage(s, p.clock().UnixMilli()),
	}
	post.AddProp(PropSessionKey, s.SessionKey)
	post.AddProp(PropSnapshot, snapshotJSON(s))
	created, appErr := p.API.CreatePost(post)
	if appErr != nil {
		return "", fmt.Errorf("creating the post of session %q in channel %s: %s", s.SessionKey, s.ChannelID, appErr.Error())
	}
	return created.Id, nil
}

// finalizePost writes the final box into the post: the one edit a box's post gets.
func (p *Plugin) finalizePost(s *Session) {
	if s.PostID == "" {
		return
	}
	post, appErr := p.API.GetPost(s.PostID)
	if appErr != nil {
		p.API.LogWarn("the box's post is gone; its final text is not written", "post_id", s.PostID, "session_key", s.SessionKey, "error", appErr.Error())
		return
	}
	post.Message = renderMessage(s, p.clock().UnixMilli())
	post.AddProp(PropSnapshot, snapshotJSON(s))
	if _, appErr := p.API.UpdatePost(post); appErr != nil {
		p.API.LogError("could not write the final box into its post", "post_id", s.PostID, "error", appErr.Error())
	}
}

func (p *Plugin) publishUpdate(s *Session) {
	p.API.PublishWebSocketEvent(EventUpdate, map[string]any{
		"session_key": s.SessionKey,
		"post_id":     s.PostID,
		"seq":         fmt.Sprintf("%d", s.Seq),
		"session":     snapshotJSON(s),
	}, &model.WebsocketBroadcast{ChannelId: s.ChannelID})
}

func (p *Plugin) publishRemoved(s *Session) {
	p.API.PublishWebSocketEvent(EventRemoved, map[string]any{
		"session_key": s.SessionKey,
		"post_id":     s.PostID,
	}, &model.WebsocketBroadcast{ChannelId: s.ChannelID})
}
