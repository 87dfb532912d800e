//! config (stub, being written).
