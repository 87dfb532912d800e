package main

import (
	"crypto/rand"
	"encoding/base64"
	"time"
)

// configuration mirrors settings_schema in plugin.json.
type configuration struct {
	SharedSecret          string
	MaxActiveSessions     int
	MaxStatusLines        int
	IdleMinutes           int
	DeleteFinishedMinutes int
}

// withDefaults fills settings an admin left empty or set to nonsense (zero, negative) with the
// plugin.json defaults, so a half-filled System Console page still gives a working plugin.
func (c configuration) withDefaults() configuration {
	if c.MaxActiveSessions <= 0 {
		c.MaxActiveSessions = 20
	}
	if c.MaxStatusLines <= 0 {
		c.MaxStatusLines = 30
	}
	if c.IdleMinutes <= 0 {
		c.IdleMinutes = 30
	}
	if c.DeleteFinishedMinutes <= 0 {
		c.DeleteFinishedMinutes = 60
	}
	return c
}

func (c configuration) idleAge() time.Duration { return time.Duration(c.IdleMinutes) * time.Minute }
func (c configuration) deleteAge() time.Duration {
	return time.Duration(c.DeleteFinishedMinutes) * time.Minute
}

func (p *Plugin) getConfiguration() configuration {
	p.configLock.RLock()
	defer p.configLock.RUnlock()
	return p.config
}

// OnConfigurationChange loads the settings; an empty secret is generated and saved, so the
// plugin never accepts writes without one and the admin copies it from the System Console.
func (p *Plugin) OnConfigurationChange() error {
	var c configuration
	if err := p.API.LoadPluginConfiguration(&c); err != nil {
		return err
	}
	if c.SharedSecret == "" {
		secret, err := newSecret()
		if err != nil {
			return err
		}
		c.SharedSecret = secret
		stored := p.API.GetPluginConfig()
		if stored == nil {
			stored = map[string]any{}
		}
		stored["SharedSecret"] = secret
		if appErr := p.API.SavePluginConfig(stored); appErr != nil {
			p.API.LogError("could not save the generated shared secret; set SharedSecret in System Console > Plugins > OpenClaw Live Status", "error", appErr.Error())
		}
	}
	p.configLock.Lock()
	p.config = c.withDefaults()
	p.configLock.Unlock()
	return nil
}

func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
