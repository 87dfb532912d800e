//! Which gateway, agent and session a path belongs to.
