//! Box text for people: the terminal view and the Markdown code block of the REST sink.

mod format;
mod markdown;
mod plain;

pub use format::{format_elapsed, format_tokens};
pub use markdown::render_markdown;
pub use plain::{RenderOptions, render_text};
