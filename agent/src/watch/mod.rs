//! Event sources. Every tier turns what it learns into `FsEvent`s on one channel.

pub mod event;
pub mod inotify;
pub mod poll;
pub mod scope;

pub use event::{FsEvent, FsEventKind};
pub use scope::Scope;
