package main

import "time"

// Set from plugin.json at build time (-ldflags -X), so health reports the bundle's version.
var (
	manifestID      = "com.openclaw.livestatus"
	manifestVersion = "dev"
)

func msTime(ms int64) time.Time { return time.UnixMilli(ms) }
