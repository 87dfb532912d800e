package main

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
)

func (p *Plugin) newRouter() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/batch", p.handleBatch)
	mux.HandleFunc("GET /api/v1/sessions", p.handleSessions)
	mux.HandleFunc("GET /api/v1/sessions/{key}", p.handleSession)
	mux.HandleFunc("GET /api/v1/health", p.handleHealth)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path+" (see /api/v1/health)")
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// authorizedWriter checks the bearer secret in constant time.
func (p *Plugin) authorizedWriter(r *http.Request) bool {
	secret := p.getConfiguration().SharedSecret
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || secret == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(token), []byte(secret)) == 1
}

func (p *Plugin) handleBatch(w http.ResponseWriter, r *http.Request) {
	if !p.authorizedWriter(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="com.openclaw.livestatus"`)
		writeError(w, http.StatusUnauthorized, "missing or wrong shared secret: send Authorization: Bearer <SharedSecret from System Console > Plugins > OpenClaw Live Status>")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "body over 1 MiB; split the batch")
			return
		}
		writeError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	req, err := parseBatch(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	results := make([]Result, 0, len(req.Deltas))
	status := http.StatusOK
	for i := range req.Deltas {
		res, err := p.applyDelta(&req.Deltas[i])
		if err != nil {
			p.API.LogError("applying a delta failed", "session_key", req.Deltas[i].SessionKey, "error", err.Error())
			writeJSON(w, http.StatusInternalServerError, map[string]any{
				"error":   err.Error() + "; the deltas before it were applied, resend the batch (they count as duplicates)",
				"results": results,
			})
			return
		}
		if res.Status == ResultGap || res.Status == ResultRefused {
			status = http.StatusConflict
		}
		results = append(results, res)
	}
	writeJSON(w, status, map[string]any{"results": results})
}

// reader returns the Mattermost user the server authenticated; the server strips any
// Mattermost-User-Id a client sends and sets it only for a logged-in session.
func reader(w http.ResponseWriter, r *http.Request) (string, bool) {
	userID := r.Header.Get("Mattermost-User-Id")
	if userID == "" {
		writeError(w, http.StatusUnauthorized, "log in to Mattermost to read sessions")
		return "", false
	}
	return userID, true
}

// memberships answers channel membership once per channel per request.
type memberships struct {
	p      *Plugin
	userID string
	seen   map[string]bool
}

func (m *memberships) member(channelID string) bool {
	if v, ok := m.seen[channelID]; ok {
		return v
	}
	_, appErr := m.p.API.GetChannelMember(channelID, m.userID)
	m.seen[channelID] = appErr == nil
	return appErr == nil
}

func (p *Plugin) handleSessions(w http.ResponseWriter, r *http.Request) {
	userID, ok := reader(w, r)
	if !ok {
		return
	}
	all, err := p.listSessions()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	m := &memberships{p: p, userID: userID, seen: map[string]bool{}}
	out := make([]*Session, 0)
	for _, st := range all {
		if !st.s.Finished() && m.member(st.s.ChannelID) {
			out = append(out, st.s)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

func (p *Plugin) handleSession(w http.ResponseWriter, r *http.Request) {
	userID, ok := reader(w, r)
	if !ok {
		return
	}
	key := r.PathValue("key")
	s, _, err := p.load(key)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	// A non-member gets the same answer as for a key that does not exist, so keys cannot be
	// probed.
	if s == nil || !(&memberships{p: p, userID: userID, seen: map[string]bool{}}).member(s.ChannelID) {
		writeError(w, http.StatusNotFound, "no session "+key+" in a channel you are a member of")
		return
	}
	writeJSON(w, http.StatusOK, s)
}

func (p *Plugin) handleHealth(w http.ResponseWriter, _ *http.Request) {
	body := map[string]any{
		"id":           manifestID,
		"version":      manifestVersion,
		"capabilities": capabilities,
	}
	if all, err := p.listSessions(); err == nil {
		active := 0
		for _, st := range all {
			if !st.s.Finished() {
				active++
			}
		}
		body["sessions"] = len(all)
		body["active_sessions"] = active
	} else {
		body["kv_error"] = err.Error()
	}
	writeJSON(w, http.StatusOK, body)
}
