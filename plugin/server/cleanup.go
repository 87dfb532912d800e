package main

// cleanupJob runs on one node of a cluster at a time (pluginapi/cluster.Schedule): a box whose
// agent went silent for IdleMinutes is marked [INTERRUPTED] (its post gets the final text), and
// a finished session older than DeleteFinishedMinutes is deleted (its post stays).
func (p *Plugin) cleanupJob() {
	if err := p.cleanup(); err != nil {
		p.API.LogError("livestatus cleanup failed; it runs again in a minute", "error", err.Error())
	}
}

func (p *Plugin) cleanup() error {
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	cfg := p.getConfiguration()
	now := p.clock()
	all, err := p.listSessions()
	if err != nil {
		return err
	}
	for _, st := range all {
		s := st.s
		switch {
		case !s.Finished() && now.Sub(msTime(s.UpdatedMs)) >= cfg.idleAge():
			next := *s
			next.State, next.EndedMs, next.UpdatedMs = StateInterrupted, now.UnixMilli(), now.UnixMilli()
			ok, err := p.save(s.SessionKey, st.raw, &next)
			if err != nil {
				return err
			}
			if ok { // otherwise a batch moved it on meanwhile: it is not idle
				p.finalizePost(&next)
				p.publishUpdate(&next)
			}
		case s.Finished() && now.Sub(msTime(s.UpdatedMs)) >= cfg.deleteAge():
			ok, err := p.save(s.SessionKey, st.raw, nil)
			if err != nil {
				return err
			}
			if ok {
				p.publishRemoved(s)
			}
		}
	}
	return nil
}
