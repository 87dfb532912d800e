// Package harness runs the BUILT plugin bundle the way Mattermost does: the SDK's
// plugin.NewEnvironment unpacks it and Activate starts its server executable as a subprocess
// over the plugin RPC, with memapi as the plugin API. Its HTTP hook is served on loopback under
// /plugins/com.openclaw.livestatus/, like a Mattermost server, and /harness/ shows what the
// plugin did (posts, post writes, WebSocket events, KV keys) for tests in any language.
package harness

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
	"github.com/mattermost/mattermost/server/public/shared/mlog"

	"openclaw-livestatus/plugin/harness/memapi"
)

// PluginID is the bundle's id.
const PluginID = "com.openclaw.livestatus"

// UserHeader names the logged-in user of a request. Mattermost sets Mattermost-User-Id from the
// session and strips any a client sends; the harness does the same, taking the user from this
// header instead of a session cookie.
const UserHeader = "X-Harness-User-Id"

// Harness is one running plugin.
type Harness struct {
	API *memapi.API
	// URL is the loopback base URL, e.g. http://127.0.0.1:41234.
	URL string

	env    *plugin.Environment
	server *http.Server
	dir    string
}

// Start unpacks bundle (the dist tar.gz) into a fresh directory, activates the plugin with
// config as its System Console settings, and serves it on listen (e.g. 127.0.0.1:0).
func Start(bundle string, config map[string]any, listen string) (*Harness, error) {
	dir, err := os.MkdirTemp("", "livestatus-harness-")
	if err != nil {
		return nil, err
	}
	h := &Harness{API: memapi.New(config), dir: dir}
	pluginDir := filepath.Join(dir, "plugins")
	if err := untar(bundle, pluginDir); err != nil {
		h.cleanupDir()
		return nil, fmt.Errorf("unpacking %s: %w", bundle, err)
	}
	logger, err := mlog.NewLogger()
	if err != nil {
		h.cleanupDir()
		return nil, err
	}
	h.env, err = plugin.NewEnvironment(func(*model.Manifest) plugin.API { return h.API }, nil,
		pluginDir, filepath.Join(dir, "client", "plugins"), logger, nil)
	if err != nil {
		h.cleanupDir()
		return nil, err
	}
	if _, _, err := h.env.Activate(PluginID); err != nil {
		h.env.Shutdown()
		h.cleanupDir()
		return nil, fmt.Errorf("activating %s from %s: %w (plugin log: %s)", PluginID, bundle, err, strings.Join(h.API.Logs(), "; "))
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		h.Close()
		return nil, err
	}
	h.URL = "http://" + ln.Addr().String()
	h.server = &http.Server{Handler: h.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = h.server.Serve(ln) }()
	return h, nil
}

// WebappDir is where the environment unpacked the webapp bundle (main.js).
func (h *Harness) WebappDir() string { return filepath.Join(h.dir, "client", "plugins", PluginID) }

// Close stops the server and the plugin process and removes the unpacked bundle.
func (h *Harness) Close() {
	if h.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = h.server.Shutdown(ctx)
		cancel()
	}
	if h.env != nil {
		h.env.Shutdown()
	}
	h.cleanupDir()
}

func (h *Harness) cleanupDir() { _ = os.RemoveAll(h.dir) }

func (h *Harness) routes() http.Handler {
	mux := http.NewServeMux()
	prefix := "/plugins/" + PluginID
	mux.HandleFunc(prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		hooks, err := h.env.HooksForPlugin(PluginID)
		if err != nil {
			http.Error(w, "plugin not active: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		r.Header.Del("Mattermost-User-Id")
		if user := r.Header.Get(UserHeader); user != "" {
			r.Header.Set("Mattermost-User-Id", user)
		}
		r.Header.Del(UserHeader)
		// Like Mattermost (app/plugin_requests.go): only Path loses the prefix, RawPath is left.
		r.URL.Path = strings.TrimPrefix(r.URL.Path, prefix)
		hooks.ServeHTTP(&plugin.Context{}, w, r)
	})
	mux.HandleFunc("GET /harness/posts", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, h.API.Posts()) })
	mux.HandleFunc("GET /harness/writes", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, h.API.Writes()) })
	mux.HandleFunc("GET /harness/events", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, h.API.Events()) })
	mux.HandleFunc("GET /harness/kv", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, h.API.KVKeys()) })
	mux.HandleFunc("POST /harness/members", func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			ChannelID string `json:"channel_id"`
			UserID    string `json:"user_id"`
		}
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.ChannelID == "" || m.UserID == "" {
			http.Error(w, `body: {"channel_id": "...", "user_id": "..."}`, http.StatusBadRequest)
			return
		}
		h.API.AddMember(m.ChannelID, m.UserID)
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// untar extracts a gzip'd tar into dest, refusing paths that leave it.
func untar(path, dest string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dest, filepath.Clean("/"+hdr.Name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(hdr.Mode)&0o755)
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, tr); err != nil {
				out.Close()
				return err
			}
			if err := out.Close(); err != nil {
				return err
			}
		}
	}
}
