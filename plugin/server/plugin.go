package main

import (
	"net/http"
	"sync"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
	"github.com/mattermost/mattermost/server/public/pluginapi/cluster"
)

// Capabilities the agent can rely on, reported by GET health.
var capabilities = []string{"batch", "snapshot", "websocket", "final_post"}

// Plugin is the server side of com.openclaw.livestatus.
type Plugin struct {
	plugin.MattermostPlugin

	configLock sync.RWMutex
	config     configuration

	// applyMu serialises batches and cleanup on this node; the KV store's compare-and-set keeps
	// nodes of a cluster from overwriting each other.
	applyMu sync.Mutex
	botID   string
	router  http.Handler
	job     *cluster.Job
	// now is time.Now outside tests.
	now func() time.Time
}

func (p *Plugin) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

// OnActivate sets up the bot that authors the boxes, the router, and the cleanup job.
func (p *Plugin) OnActivate() error {
	if err := p.setup(); err != nil {
		return err
	}
	job, err := cluster.Schedule(p.API, "livestatus_cleanup", cluster.MakeWaitForInterval(time.Minute), p.cleanupJob)
	if err != nil {
		return err
	}
	p.job = job
	return nil
}

// setup is OnActivate without the scheduler, for tests that drive cleanup by hand.
func (p *Plugin) setup() error {
	if p.getConfiguration().MaxStatusLines == 0 {
		if err := p.OnConfigurationChange(); err != nil {
			return err
		}
	}
	botID, err := p.API.EnsureBotUser(&model.Bot{
		Username:    "livestatus",
		DisplayName: "Live Status",
		Description: "Posts the live status boxes of OpenClaw agent turns.",
	})
	if err != nil {
		return err
	}
	p.botID = botID
	p.router = p.newRouter()
	return nil
}

// OnDeactivate stops the cleanup job.
func (p *Plugin) OnDeactivate() error {
	if p.job != nil {
		return p.job.Close()
	}
	return nil
}

// ServeHTTP serves /plugins/com.openclaw.livestatus/… (the server strips that prefix).
func (p *Plugin) ServeHTTP(_ *plugin.Context, w http.ResponseWriter, r *http.Request) {
	p.router.ServeHTTP(w, r)
}
