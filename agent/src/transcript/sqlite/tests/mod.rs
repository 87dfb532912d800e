//! Tests on the recorded 2026.9.6 stores and on copies of them written like the gateway does.

mod fixtures;
mod guards;
mod support;
mod writer;
