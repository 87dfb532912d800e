//! Mattermost accounts: which server and bot token serve a gateway's `accountId`.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use super::account::Account;
use super::account::{ConfiguredAccount, normalize_account_id};
use super::openclaw_config::{GatewayAccounts, GatewayConfigError, read_gateway_accounts};
use crate::layout::GATEWAY_CONFIG;

/// Looks up the account that serves `account_id` for the gateway whose state dir is `gateway`.
/// Implemented from the config file and each gateway's own `openclaw.json`; sinks only ask.
pub trait AccountBook: Send + Sync + 'static {
    fn account(&self, gateway: &Path, account_id: &str) -> Option<Account>;
}

/// Every gateway uses the same account, whatever its `accountId` (tests, and the config-only
/// setup of a single Mattermost server).
#[derive(Clone, Debug)]
pub struct SingleAccount(pub Account);

impl AccountBook for SingleAccount {
    fn account(&self, _gateway: &Path, _account_id: &str) -> Option<Account> {
        Some(self.0.clone())
    }
}

/// How often a cached gateway's `openclaw.json` is stat'ed for changes, at most.
const RECHECK: Duration = Duration::from_secs(1);

/// The accounts of the daemon's config and of every gateway's own `openclaw.json`.
///
/// For a gateway and an account id, the config's account of that id wins, then the gateway's own
/// account of that id (a session naming no account asks for `"default"`, which is also the
/// gateway's `defaultAccount` when it has no account of that name). So a host whose gateways are
/// configured needs no Mattermost config at all, and the config can still override a gateway
/// whose token the daemon cannot resolve (an `exec` SecretRef, a variable only its process has).
///
/// Gateways are read on first use and cached; a changed `openclaw.json` (identity, size, mtime or
/// ctime, checked at most once a second per gateway) is read again, as is everything after
/// [`AccountDirectory::reload`]. A config that turns unreadable keeps the last good accounts.
pub struct AccountDirectory {
    configured: BTreeMap<String, (Account, &'static str)>,
    gateways: Mutex<HashMap<PathBuf, Cached>>,
    /// How long a gateway's stamp is trusted before it is checked again (`RECHECK`).
    recheck: Duration,
}

struct Cached {
    accounts: Arc<GatewayAccounts>,
    stamp: Option<Stamp>,
    checked: Instant,
}

/// What tells a rewritten file: OpenClaw replaces it by rename (new inode), an editor may not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(gateway: &Path) -> Option<Stamp> {
        let meta = std::fs::symlink_metadata(gateway.join(GATEWAY_CONFIG)).ok()?;
        Some(Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        })
    }
}

impl AccountDirectory {
    /// The accounts of the daemon's config (`[mattermost]` is `"default"`,
    /// `[mattermost.accounts.<id>]` the others), their tokens read by the config
    /// (`Config::configured_accounts`), and every gateway's, read when first asked.
    pub fn new(configured: Vec<ConfiguredAccount>) -> AccountDirectory {
        AccountDirectory {
            configured: configured
                .into_iter()
                .map(|c| (c.id, (c.account, c.source)))
                .collect(),
            gateways: Mutex::new(HashMap::new()),
            recheck: RECHECK,
        }
    }

    /// Checks every gateway's stamp at each lookup: tests see a change at once instead of
    /// sleeping through the period.
    #[cfg(test)]
    pub fn checking_every_lookup(mut self) -> AccountDirectory {
        self.recheck = Duration::ZERO;
        self
    }

    /// Forgets every gateway's accounts: the next lookup reads `openclaw.json` (and the files it
    /// references) again. For `systemctl reload`, and after a secret file changed.
    pub fn reload(&self) {
        self.lock().clear();
    }

    /// Forgets one gateway's accounts (its `openclaw.json` changed, or the gateway went away).
    pub fn invalidate(&self, gateway: &Path) {
        self.lock().remove(gateway);
    }

    /// Reads a gateway's accounts now rather than at its first session, so that
    /// [`AccountDirectory::describe`] lists them and their problems are logged at startup.
    pub fn prime(&self, gateway: &Path) {
        let _ = self.gateway(gateway);
    }

    /// Every known account, for diagnostics: `(gateway state dir or "config", account id,
    /// base URL, token source)`. Gateways appear once looked up or primed. No tokens.
    pub fn describe(&self) -> Vec<(String, String, String, &'static str)> {
        let mut out: Vec<(String, String, String, &'static str)> = self
            .configured
            .iter()
            .map(|(id, (a, source))| ("config".to_owned(), id.clone(), a.base_url.clone(), *source))
            .collect();
        let mut gateways: Vec<(PathBuf, Arc<GatewayAccounts>)> = self
            .lock()
            .iter()
            .map(|(path, cached)| (path.clone(), cached.accounts.clone()))
            .collect();
        gateways.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, accounts) in gateways {
            for (id, g) in &accounts.accounts {
                out.push((
                    path.display().to_string(),
                    id.clone(),
                    g.account.base_url.clone(),
                    g.token_source,
                ));
            }
        }
        out
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<PathBuf, Cached>> {
        // A panic elsewhere while holding the lock leaves a plain cache behind: still usable.
        self.gateways
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn gateway(&self, gateway: &Path) -> Arc<GatewayAccounts> {
        let previous = {
            let mut cache = self.lock();
            match cache.get_mut(gateway) {
                Some(cached) if cached.checked.elapsed() < self.recheck => {
                    return cached.accounts.clone();
                }
                Some(cached) => {
                    let stamp = Stamp::of(gateway);
                    if stamp == cached.stamp {
                        cached.checked = Instant::now();
                        return cached.accounts.clone();
                    }
                    Some(cached.accounts.clone())
                }
                None => None,
            }
        };
        // Read outside the lock: lookups for other gateways need not wait on this one's disk.
        // The stamp is taken first, so a rewrite racing the read is seen at the next check.
        let stamp = Stamp::of(gateway);
        let accounts = Arc::new(load(gateway, previous));
        self.lock().insert(
            gateway.to_owned(),
            Cached {
                accounts: accounts.clone(),
                stamp,
                checked: Instant::now(),
            },
        );
        accounts
    }
}

/// Reads a gateway's accounts and logs what is wrong with them, once per read.
fn load(gateway: &Path, previous: Option<Arc<GatewayAccounts>>) -> GatewayAccounts {
    match read_gateway_accounts(gateway) {
        Ok(accounts) => {
            for (id, reason) in &accounts.skipped {
                tracing::warn!(
                    gateway = %gateway.display(),
                    mm_account = %id,
                    "Mattermost account of this gateway not usable: {reason}"
                );
            }
            tracing::debug!(
                gateway = %gateway.display(),
                accounts = accounts.accounts.len(),
                "gateway Mattermost accounts read"
            );
            accounts
        }
        Err(GatewayConfigError::Missing { path }) => {
            tracing::debug!(path = %path.display(), "gateway has no config; no accounts of its own");
            GatewayAccounts::default()
        }
        Err(err) => {
            let kept = previous.as_deref().cloned().unwrap_or_default();
            tracing::warn!(
                gateway = %gateway.display(),
                error = %err,
                kept = kept.accounts.len(),
                "gateway config unusable; keeping its last good Mattermost accounts"
            );
            kept
        }
    }
}

impl AccountBook for AccountDirectory {
    fn account(&self, gateway: &Path, account_id: &str) -> Option<Account> {
        let id = normalize_account_id(account_id);
        if let Some((account, _)) = self.configured.get(&id) {
            return Some(account.clone());
        }
        self.gateway(gateway)
            .get(&id)
            .map(|found| found.account.clone())
    }
}

#[cfg(test)]
mod tests;
