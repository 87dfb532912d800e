//! `doctor`'s probe: which transport the worker would pick for a server, asked of the server
//! without writing anything.

use std::time::Duration;

use crate::service::config::MattermostMode;

use super::PluginOptions;
use crate::sink::mattermost::transport::plugin;

/// What the worker would pick for `server` now, and why: for `doctor`. With a secret and a
/// plugin that answers, the secret itself is tried with an empty batch, which the plugin refuses
/// as empty (400) only after accepting the secret (401 otherwise), so nothing is written.
pub async fn detect(
    server: &str,
    opts: &PluginOptions,
    timeout: Duration,
) -> (&'static str, String) {
    let own = opts.for_server(server);
    if own.mode == MattermostMode::Rest {
        return ("rest", "mode = \"rest\"".to_owned());
    }
    let Some(secret) = &own.secret else {
        return (
            "rest",
            "no plugin secret for this server (mattermost.plugin_secret_file, PLUGIN_SECRET, the plugin-secret credential, or the account's plugin_secret_file), so mode auto means REST".to_owned(),
        );
    };
    let base = own.url.clone().unwrap_or_else(|| plugin::base_of(server));
    let http = match reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(timeout)
        .build()
    {
        Ok(h) => h,
        Err(e) => return ("rest", format!("cannot set up an HTTP client: {e}")),
    };
    let health = match plugin::health(&http, &base, timeout).await {
        Ok(h) => h,
        Err(why) => {
            return (
                "rest",
                format!(
                    "{base}: {why}; REST until it answers (checked every {}s)",
                    opts.recheck.as_secs()
                ),
            );
        }
    };
    let Ok(url) = plugin::endpoint(&base, "batch") else {
        return ("rest", format!("{base} does not make a batch URL"));
    };
    let answer = http
        .post(url)
        .bearer_auth(secret.expose())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body("{\"deltas\":[]}")
        .send()
        .await;
    match answer.map(|r| r.status().as_u16()) {
        Ok(400) => (
            "plugin",
            format!(
                "{base} answers (version {}) and accepts the shared secret",
                health.version
            ),
        ),
        Ok(401) => (
            "rest",
            format!(
                "{base} answers but refuses the shared secret (401): set the same SharedSecret in System Console > Plugins > OpenClaw Live Status and in mattermost.plugin_secret_file / PLUGIN_SECRET"
            ),
        ),
        Ok(code) => (
            "plugin",
            format!(
                "{base} answers (version {}); a test batch got HTTP {code}",
                health.version
            ),
        ),
        Err(e) => ("rest", format!("{base}: the test batch failed: {e}")),
    }
}
