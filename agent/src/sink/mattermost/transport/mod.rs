//! The two ways a box reaches Mattermost. The worker (one per daemon) owns every box, the post
//! store, admission, pacing and the breakers; a transport only turns the worker's decisions into
//! requests: `rest` makes one post per box and edits it, `plugin` sends every box's changes in
//! one batch per throttle window to the plugin `com.openclaw.livestatus`.

pub mod plugin;
pub mod rest;
