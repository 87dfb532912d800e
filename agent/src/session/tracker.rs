//! tracker (stub, being written).
