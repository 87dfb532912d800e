//! inotify tier (stub, being written).
