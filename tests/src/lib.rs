//! End-to-end harnesses.
