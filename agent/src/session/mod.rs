//! One state machine per session: turns become boxes, transcript events become box operations.

pub mod delta;
pub mod labels;
pub mod tracker;

pub use delta::{BoxDelta, BoxId, BoxModel, BoxOp, BoxState, Line, LineKind, LineStatus, SessionId, SessionRef};
