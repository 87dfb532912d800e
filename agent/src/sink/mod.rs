//! Where boxes go.
