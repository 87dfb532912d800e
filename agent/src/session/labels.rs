//! tool labels (stub, being written).
