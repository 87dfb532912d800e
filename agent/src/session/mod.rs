//! One state machine per session: turns become boxes, transcript events become box operations.

mod boxes;
pub mod delta;
mod label_template;
pub mod labels;
pub(crate) mod text;
pub mod tracker;

#[cfg(test)]
pub(crate) mod fixture;
#[cfg(test)]
mod stories;

pub use delta::{
    BoxDelta, BoxId, BoxModel, BoxOp, BoxState, Line, LineKind, LineStatus, SessionId, SessionInfo,
    SessionRef,
};
pub use label_template::TemplateError;
pub use labels::{LabelsError, ToolLabels};
pub use tracker::{CatchUp, SessionConfig, SessionInput, Tracker};
