// Package memapi is an in-memory Mattermost plugin API: the part of plugin.API the livestatus
// plugin calls (KV store, posts, channel members, WebSocket publish, configuration, logging),
// recording what the plugin did so a test can assert on it. The host harness hands it to the
// SDK's plugin environment, so the plugin reaches it over the same RPC Mattermost uses; the
// server's unit tests use it directly.
package memapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
)

// Event is one PublishWebSocketEvent call.
type Event struct {
	Event     string         `json:"event"`
	ChannelID string         `json:"channel_id"`
	Payload   map[string]any `json:"payload"`
}

// PostWrite is one CreatePost, UpdatePost or DeletePost call.
type PostWrite struct {
	Op      string `json:"op"` // create, update, delete
	PostID  string `json:"post_id"`
	Message string `json:"message"`
}

type kvEntry struct {
	value   []byte
	expires time.Time // zero: never
}

// API implements the methods of plugin.API the plugin uses; any other method panics through the
// nil embedded interface, which shows up as a test failure naming the method.
type API struct {
	plugin.API

	mu      sync.Mutex
	now     func() time.Time
	kv      map[string]kvEntry
	posts   map[string]*model.Post
	writes  []PostWrite
	members map[string]map[string]bool // channel → user → member
	events  []Event
	config  map[string]any
	logs    []string
	nextID  int
	// KVFail makes every KV call fail while set: the plugin's error paths.
	KVFail bool
}

// New returns an empty API whose plugin configuration is config.
func New(config map[string]any) *API {
	if config == nil {
		config = map[string]any{}
	}
	return &API{
		now:     time.Now,
		kv:      map[string]kvEntry{},
		posts:   map[string]*model.Post{},
		members: map[string]map[string]bool{},
		config:  config,
	}
}

// SetClock replaces time.Now for KV expiry.
func (a *API) SetClock(now func() time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.now = now
}

// AddMember makes userID a member of channelID.
func (a *API) AddMember(channelID, userID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.members[channelID] == nil {
		a.members[channelID] = map[string]bool{}
	}
	a.members[channelID][userID] = true
}

// Events returns a copy of the published events.
func (a *API) Events() []Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Event(nil), a.events...)
}

// Writes returns a copy of the post writes, in order.
func (a *API) Writes() []PostWrite {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]PostWrite(nil), a.writes...)
}

// Posts returns a copy of the posts that exist.
func (a *API) Posts() []*model.Post {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*model.Post, 0, len(a.posts))
	for _, p := range a.posts {
		out = append(out, p.Clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Id < out[j].Id })
	return out
}

// KVKeys returns the stored keys, sorted.
func (a *API) KVKeys() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.liveKeysLocked()
}

// Logs returns the log lines.
func (a *API) Logs() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.logs...)
}

func (a *API) liveKeysLocked() []string {
	now := a.now()
	keys := make([]string, 0, len(a.kv))
	for k, e := range a.kv {
		if e.expires.IsZero() || now.Before(e.expires) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func kvError(where string) *model.AppError {
	return model.NewAppError(where, "memapi.kv_fail", nil, "KV store unavailable (KVFail set)", http.StatusInternalServerError)
}

func (a *API) LoadPluginConfiguration(dest any) error {
	a.mu.Lock()
	b, err := json.Marshal(a.config)
	a.mu.Unlock()
	if err != nil {
		return err
	}
	return json.Unmarshal(b, dest)
}

func (a *API) GetPluginConfig() map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]any{}
	for k, v := range a.config {
		out[k] = v
	}
	return out
}

func (a *API) SavePluginConfig(config map[string]any) *model.AppError {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.config = map[string]any{}
	for k, v := range config {
		a.config[k] = v
	}
	return nil
}

func (a *API) KVGet(key string) ([]byte, *model.AppError) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.KVFail {
		return nil, kvError("KVGet")
	}
	e, ok := a.kv[key]
	if !ok || (!e.expires.IsZero() && !a.now().Before(e.expires)) {
		return nil, nil
	}
	return bytes.Clone(e.value), nil
}

func (a *API) KVSet(key string, value []byte) *model.AppError {
	_, err := a.KVSetWithOptions(key, value, model.PluginKVSetOptions{})
	return err
}

// KVSetWithOptions follows the server: Atomic with a nil OldValue sets only a missing key, a nil
// value deletes.
func (a *API) KVSetWithOptions(key string, value []byte, options model.PluginKVSetOptions) (bool, *model.AppError) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.KVFail {
		return false, kvError("KVSetWithOptions")
	}
	if appErr := options.IsValid(); appErr != nil {
		return false, appErr
	}
	if len(key) > model.KeyValueKeyMaxRunes {
		return false, model.NewAppError("KVSetWithOptions", "memapi.key_too_long", nil, "key longer than 150", http.StatusBadRequest)
	}
	e, exists := a.kv[key]
	if exists && !e.expires.IsZero() && !a.now().Before(e.expires) {
		exists = false
	}
	if options.Atomic {
		if options.OldValue == nil && exists {
			return false, nil
		}
		if options.OldValue != nil && (!exists || !bytes.Equal(e.value, options.OldValue)) {
			return false, nil
		}
	}
	if value == nil {
		delete(a.kv, key)
		return true, nil
	}
	entry := kvEntry{value: bytes.Clone(value)}
	if options.ExpireInSeconds > 0 {
		entry.expires = a.now().Add(time.Duration(options.ExpireInSeconds) * time.Second)
	}
	a.kv[key] = entry
	return true, nil
}

func (a *API) KVDelete(key string) *model.AppError {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.KVFail {
		return kvError("KVDelete")
	}
	delete(a.kv, key)
	return nil
}

func (a *API) KVList(page, perPage int) ([]string, *model.AppError) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.KVFail {
		return nil, kvError("KVList")
	}
	keys := a.liveKeysLocked()
	start := page * perPage
	if start >= len(keys) {
		return []string{}, nil
	}
	end := min(start+perPage, len(keys))
	return keys[start:end], nil
}

func (a *API) newIDLocked() string {
	a.nextID++
	// 26 characters like a Mattermost id, so length checks in the plugin see realistic ids.
	return fmt.Sprintf("post%022d", a.nextID)
}

func (a *API) CreatePost(post *model.Post) (*model.Post, *model.AppError) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := post.Clone()
	p.Id = a.newIDLocked()
	p.CreateAt = a.now().UnixMilli()
	p.UpdateAt = p.CreateAt
	a.posts[p.Id] = p
	a.writes = append(a.writes, PostWrite{Op: "create", PostID: p.Id, Message: p.Message})
	return p.Clone(), nil
}

func (a *API) UpdatePost(post *model.Post) (*model.Post, *model.AppError) {
	a.mu.Lock()
	defer a.mu.Unlock()
	old, ok := a.posts[post.Id]
	if !ok {
		return nil, model.NewAppError("UpdatePost", "memapi.post_not_found", nil, "no post "+post.Id, http.StatusNotFound)
	}
	p := post.Clone()
	p.CreateAt = old.CreateAt
	p.UpdateAt = a.now().UnixMilli()
	p.EditAt = p.UpdateAt
	a.posts[p.Id] = p
	a.writes = append(a.writes, PostWrite{Op: "update", PostID: p.Id, Message: p.Message})
	return p.Clone(), nil
}

func (a *API) GetPost(postID string) (*model.Post, *model.AppError) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.posts[postID]
	if !ok {
		return nil, model.NewAppError("GetPost", "memapi.post_not_found", nil, "no post "+postID, http.StatusNotFound)
	}
	return p.Clone(), nil
}

func (a *API) DeletePost(postID string) *model.AppError {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.posts[postID]; !ok {
		return model.NewAppError("DeletePost", "memapi.post_not_found", nil, "no post "+postID, http.StatusNotFound)
	}
	delete(a.posts, postID)
	a.writes = append(a.writes, PostWrite{Op: "delete", PostID: postID})
	return nil
}

func (a *API) GetChannelMember(channelID, userID string) (*model.ChannelMember, *model.AppError) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.members[channelID][userID] {
		return nil, model.NewAppError("GetChannelMember", "app.channel.get_member.missing.app_error", nil, "", http.StatusNotFound)
	}
	return &model.ChannelMember{ChannelId: channelID, UserId: userID}, nil
}

func (a *API) PublishWebSocketEvent(event string, payload map[string]any, broadcast *model.WebsocketBroadcast) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ev := Event{Event: event, Payload: payload}
	if broadcast != nil {
		ev.ChannelID = broadcast.ChannelId
	}
	a.events = append(a.events, ev)
}

func (a *API) EnsureBotUser(bot *model.Bot) (string, error) {
	return "livestatusbot00000000000000"[:26], nil
}

func (a *API) log(level, msg string, kv ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var b strings.Builder
	b.WriteString(level + " " + msg)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, " %v=%v", kv[i], kv[i+1])
	}
	a.logs = append(a.logs, b.String())
}

func (a *API) LogDebug(msg string, kv ...any) { a.log("debug", msg, kv...) }
func (a *API) LogInfo(msg string, kv ...any)  { a.log("info", msg, kv...) }
func (a *API) LogWarn(msg string, kv ...any)  { a.log("warn", msg, kv...) }
func (a *API) LogError(msg string, kv ...any) { a.log("error", msg, kv...) }
