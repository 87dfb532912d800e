//! poll tier (stub, being written).
