//! Box text for people: the terminal view and the Markdown code block of the REST sink.
