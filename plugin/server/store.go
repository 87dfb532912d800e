package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mattermost/mattermost/server/public/model"
)

// keyPrefix is the one prefix of every session record; the cleanup job and GET sessions scan
// only keys that carry it (the cluster scheduler keeps its own keys beside them).
const keyPrefix = "ls_s_"

// kvKey: session keys can be longer than the 150 characters a KV key may have, so the record
// lives under a hash of it and carries the real key inside.
func kvKey(sessionKey string) string {
	h := sha256.Sum256([]byte(sessionKey))
	return keyPrefix + hex.EncodeToString(h[:16])
}

// load returns the record (nil when there is none) and its stored bytes for compare-and-set.
func (p *Plugin) load(sessionKey string) (*Session, []byte, error) {
	raw, appErr := p.API.KVGet(kvKey(sessionKey))
	if appErr != nil {
		return nil, nil, fmt.Errorf("reading session %q from the KV store: %s", sessionKey, appErr.Error())
	}
	if raw == nil {
		return nil, nil, nil
	}
	var s Session
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, nil, fmt.Errorf("session %q in the KV store (key %s) is not valid JSON: %w", sessionKey, kvKey(sessionKey), err)
	}
	return &s, raw, nil
}

// save writes s if the stored bytes are still old (nil: still absent); false means another
// writer got there first. A nil s deletes.
func (p *Plugin) save(sessionKey string, old []byte, s *Session) (bool, error) {
	var value []byte
	if s != nil {
		var err error
		if value, err = json.Marshal(s); err != nil {
			return false, err
		}
	}
	ok, appErr := p.API.KVSetWithOptions(kvKey(sessionKey), value, model.PluginKVSetOptions{Atomic: true, OldValue: old})
	if appErr != nil {
		return false, fmt.Errorf("writing session %q to the KV store: %s", sessionKey, appErr.Error())
	}
	return ok, nil
}

type storedSession struct {
	s   *Session
	raw []byte
}

// listSessions reads every record under keyPrefix; a record that does not parse is logged and
// skipped so one bad value cannot hide the others.
func (p *Plugin) listSessions() ([]storedSession, error) {
	const perPage = 200
	var out []storedSession
	for page := 0; ; page++ {
		keys, appErr := p.API.KVList(page, perPage)
		if appErr != nil {
			return nil, fmt.Errorf("listing the KV store: %s", appErr.Error())
		}
		for _, k := range keys {
			if !strings.HasPrefix(k, keyPrefix) {
				continue
			}
			raw, appErr := p.API.KVGet(k)
			if appErr != nil {
				return nil, fmt.Errorf("reading %s from the KV store: %s", k, appErr.Error())
			}
			if raw == nil {
				continue // deleted or expired since the listing
			}
			var s Session
			if err := json.Unmarshal(raw, &s); err != nil {
				p.API.LogWarn("skipping a session record that is not valid JSON", "key", k, "error", err.Error())
				continue
			}
			out = append(out, storedSession{s: &s, raw: raw})
		}
		if len(keys) < perPage {
			return out, nil
		}
	}
}
