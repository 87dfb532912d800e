//! Tests on the recorded 2026.9.6 stores and on copies of them written like the gateway does.

mod fixtures;
mod guards;
pub(crate) mod support;
mod writer;
