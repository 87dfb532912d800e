//! Where a session's boxes go in Mattermost, as the gateway itself recorded it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::sessions_index::SessionEntry;

/// A Mattermost destination. `account_id` is OpenClaw's (`"default"` when the gateway names
/// none); with the session's gateway it selects the server and bot.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Route {
    pub account_id: String,
    pub target: Target,
    /// The root post of the thread the box belongs in; None for a top-level post.
    pub root_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Target {
    /// A channel id (public, private or group).
    Channel(String),
    /// A user id: the direct channel between the bot and that user (resolved by the sink with
    /// `POST /api/v4/channels/direct`).
    User(String),
}

/// OpenClaw's channel id for Mattermost, in `deliveryContext.channel`, `lastChannel`,
/// `origin.provider` and session keys.
pub const MATTERMOST: &str = "mattermost";

pub use super::account::DEFAULT_ACCOUNT;

/// Where a JSONL-era session's boxes go, from its key and its `sessions.json` entry; `None` for a
/// session that is not bound to Mattermost or names no usable destination.
///
/// The entry describes its destination up to five times, in this order of preference:
/// 1. `deliveryContext {channel, to, threadId, accountId}` — what OpenClaw delivers to next;
/// 2. `route {channel, accountId, target: {to}, thread: {id}}` (2026.5+);
/// 3. `lastChannel`, `lastTo`, `lastThreadId`, `lastAccountId`;
/// 4. `origin {provider, to, threadId, accountId}` — where the conversation came from;
/// 5. the key: `agent:<agentId>:mattermost:<channel|group|direct>:<id>[:thread:<rootId>]`, or
///    `agent:<agentId>:mattermost:<accountId>:direct:<userId>` (`dmScope:
///    "per-account-channel-peer"`); older releases spell `direct` as `dm`.
///
/// Rules:
/// - Binding: the first of these that names a channel decides; the session gets a route only if
///   that is `mattermost`. A source naming another channel is ignored for every part below: the
///   shared `agent:main:main` session answers Telegram one turn and Mattermost the next, and only
///   the latest delivery counts.
/// - Target: the first valid `to`. `channel:<id>` and a bare id are channels; `user:<id>` and
///   `mattermost:<id>` are users (a DM: the JSONL eras record the user, never the DM channel, so
///   the sink resolves it); `@username` would need a lookup and is skipped. The key contributes
///   `channel`/`group` → channel and `direct` → user.
/// - Thread: the first valid `threadId` (`thread.id`, `lastThreadId`, the key's `:thread:`) of a
///   source whose own `to` is absent or the same target, so a stale thread of another channel
///   can never be attached (Mattermost would refuse the post). 2026.4 keeps thread replies in the
///   channel session without any thread id: those boxes go top level.
/// - Account: the first valid `accountId` of such a consistent source, else `"default"`.
/// - Sub-agents (`spawnedBy`) get what their entry says; their boxes nest in the parent's box,
///   and the session stage ignores a child's own route.
/// - Mattermost ids are 26 characters `[a-z0-9]`; anything else (wrong JSON type, empty, `/`,
///   whitespace, another length) counts as absent for that part, so garbage degrades to the next
///   source or to no route, never to a wrong destination or a panic. Account ids follow OpenClaw's
///   shape, `[a-z0-9][a-z0-9_-]{0,63}` (case-folded).
pub fn route_for(key: &str, entry: &SessionEntry) -> Option<Route> {
    let sources = [
        Source::of_object(entry.delivery_context.as_ref(), &["channel"]),
        Source::of_route(entry.route.as_ref()),
        Source {
            channel: entry.last_channel.as_deref().and_then(channel_name),
            to: entry.last_to.as_deref().and_then(parse_to),
            thread: entry.last_thread_id.as_deref().and_then(mattermost_id),
            account: entry.last_account_id.as_deref().and_then(account_id),
        },
        Source::of_object(entry.origin.as_ref(), &["provider", "surface"]),
        Source::of_key(key),
    ];
    let binding = sources.iter().find_map(|s| s.channel.as_deref())?;
    if binding != MATTERMOST {
        return None;
    }
    let usable: Vec<&Source> = sources
        .iter()
        .filter(|s| s.channel.as_deref().is_none_or(|c| c == MATTERMOST))
        .collect();
    let target = usable.iter().find_map(|s| s.to.clone())?;
    let consistent = || {
        usable
            .iter()
            .filter(|s| s.to.as_ref().is_none_or(|to| *to == target))
    };
    let root_id = consistent().find_map(|s| s.thread.clone());
    let account_id = consistent()
        .find_map(|s| s.account.clone())
        .unwrap_or_else(|| DEFAULT_ACCOUNT.to_owned());
    Some(Route {
        account_id,
        target,
        root_id,
    })
}

/// One description of the destination, each part already validated.
#[derive(Default)]
struct Source {
    channel: Option<String>,
    to: Option<Target>,
    thread: Option<String>,
    account: Option<String>,
}

impl Source {
    /// `deliveryContext` and `origin`: flat objects; `channel_keys` in order of preference.
    fn of_object(value: Option<&Value>, channel_keys: &[&str]) -> Source {
        let Some(obj) = value.and_then(Value::as_object) else {
            return Source::default();
        };
        let text = |k: &str| obj.get(k).and_then(Value::as_str);
        Source {
            channel: channel_keys
                .iter()
                .find_map(|k| text(k).and_then(channel_name)),
            to: text("to").and_then(parse_to),
            thread: text("threadId").and_then(mattermost_id),
            account: text("accountId").and_then(account_id),
        }
    }

    fn of_route(value: Option<&Value>) -> Source {
        let Some(obj) = value.and_then(Value::as_object) else {
            return Source::default();
        };
        let nested = |outer: &str, inner: &str| obj.get(outer)?.get(inner)?.as_str();
        Source {
            channel: obj
                .get("channel")
                .and_then(Value::as_str)
                .and_then(channel_name),
            to: nested("target", "to").and_then(parse_to),
            thread: nested("thread", "id").and_then(mattermost_id),
            account: obj
                .get("accountId")
                .and_then(Value::as_str)
                .and_then(account_id),
        }
    }

    /// Only a Mattermost-shaped key says anything; `agent:main:main` and other channels' keys
    /// leave every part to the entry.
    fn of_key(key: &str) -> Source {
        let mut parts: Vec<&str> = key.split(':').collect();
        let thread = match parts.as_slice() {
            [.., marker, root] if marker.eq_ignore_ascii_case("thread") => {
                let root = mattermost_id(root);
                parts.truncate(parts.len() - 2);
                root
            }
            _ => None,
        };
        let is = |part: &str, word: &str| part.eq_ignore_ascii_case(word);
        let is_dm = |kind: &str| is(kind, "direct") || is(kind, "dm");
        let (to, account) = match parts.as_slice() {
            [agent, _, channel, kind, id] if is(agent, "agent") && is(channel, MATTERMOST) => {
                if is(kind, "channel") || is(kind, "group") {
                    (mattermost_id(id).map(Target::Channel), None)
                } else if is_dm(kind) {
                    (mattermost_id(id).map(Target::User), None)
                } else {
                    return Source::default();
                }
            }
            [agent, _, channel, account, kind, id]
                if is(agent, "agent") && is(channel, MATTERMOST) && is_dm(kind) =>
            {
                (mattermost_id(id).map(Target::User), account_id(account))
            }
            _ => return Source::default(),
        };
        Source {
            channel: Some(MATTERMOST.to_owned()),
            to,
            thread,
            account,
        }
    }
}

fn channel_name(raw: &str) -> Option<String> {
    let name = raw.trim();
    (!name.is_empty()).then(|| name.to_ascii_lowercase())
}

/// An OpenClaw delivery target, as its Mattermost plugin parses one (`parseMattermostTarget`).
fn parse_to(raw: &str) -> Option<Target> {
    let to = raw.trim();
    let (prefix, id) = to.split_once(':').unwrap_or(("", to));
    // OpenClaw trims the id after the prefix too.
    let id = id.trim();
    match prefix.to_ascii_lowercase().as_str() {
        "channel" => mattermost_id(id).map(Target::Channel),
        "user" | MATTERMOST => mattermost_id(id).map(Target::User),
        "" => mattermost_id(id).map(Target::Channel),
        _ => None,
    }
}

/// A Mattermost id (channel, user, post): exactly 26 lowercase letters and digits.
pub fn mattermost_id(raw: &str) -> Option<String> {
    let ok = raw.len() == 26
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    ok.then(|| raw.to_owned())
}

/// An OpenClaw account id as the gateway normalizes it: case-folded, `[a-z0-9][a-z0-9_-]{0,63}`.
pub fn account_id(raw: &str) -> Option<String> {
    let id = raw.trim().to_ascii_lowercase();
    let mut bytes = id.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let rest_ok =
        bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    (first_ok && rest_ok && id.len() <= 64).then_some(id)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::gateway::sessions_index::parse_index;

    const TOWN: &str = "ch4town5quare00000000000ab";
    const ROOT: &str = "jag0wjcd1t1cuuhaucllp7h6u4";
    const ALICE: &str = "us3a7lice0000000000000000a";
    const OTHER: &str = "ch9other000000000000000000";

    fn route(account: &str, target: Target, root: Option<&str>) -> Option<Route> {
        Some(Route {
            account_id: account.to_owned(),
            target,
            root_id: root.map(str::to_owned),
        })
    }

    fn channel(id: &str) -> Target {
        Target::Channel(id.to_owned())
    }

    fn user(id: &str) -> Target {
        Target::User(id.to_owned())
    }

    fn entry(json: &str) -> SessionEntry {
        serde_json::from_str(json).expect("entry json")
    }

    fn fixture_indexes() -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/openclaw");
        let mut found = Vec::new();
        for version in std::fs::read_dir(&root).expect("fixtures dir") {
            let version = version.expect("entry").path();
            for scenario in std::fs::read_dir(&version).into_iter().flatten() {
                let index = scenario
                    .expect("entry")
                    .path()
                    .join("sessions/sessions.json");
                if index.is_file() {
                    found.push(index);
                }
            }
        }
        found.sort();
        found
    }

    #[test]
    fn every_recorded_session_routes_where_the_gateway_posted() {
        let indexes = fixture_indexes();
        assert!(indexes.len() >= 7, "{indexes:?}");
        let mut seen = std::collections::BTreeSet::new();
        for path in indexes {
            let bytes = std::fs::read(&path).expect("read fixture");
            let (entries, skipped) = parse_index(&bytes).expect("fixture parses");
            assert_eq!(skipped, 0, "{}", path.display());
            for (key, entry) in &entries {
                let expected = match key.as_str() {
                    "agent:main:main" => route("default", user(ALICE), None),
                    k if k.ends_with(&format!(":thread:{ROOT}")) => {
                        route("default", channel(TOWN), Some(ROOT))
                    }
                    k if k.starts_with("agent:main:mattermost:channel:")
                        || k.starts_with("agent:main:subagent:") =>
                    {
                        route("default", channel(TOWN), None)
                    }
                    other => panic!("unexpected key {other} in {}", path.display()),
                };
                assert_eq!(
                    route_for(key, entry),
                    expected,
                    "{key} in {}",
                    path.display()
                );
                seen.insert(key.split(':').nth(2).unwrap_or_default().to_owned());
            }
        }
        for kind in ["main", "mattermost", "subagent"] {
            assert!(seen.contains(kind), "no {kind} session in the fixtures");
        }
    }

    #[test]
    fn the_thread_session_of_2026_7_gets_its_root_and_the_dm_its_user() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/openclaw/2026.7.1/e_subagent/sessions/sessions.json");
        let (entries, _) = parse_index(&std::fs::read(path).expect("fixture")).expect("parses");
        let thread_key = format!("agent:main:mattermost:channel:{TOWN}:thread:{ROOT}");
        assert_eq!(
            route_for(&thread_key, &entries[&thread_key]),
            route("default", channel(TOWN), Some(ROOT))
        );
        let dm = &entries["agent:main:main"];
        assert_eq!(
            route_for("agent:main:main", dm),
            route("default", user(ALICE), None)
        );
        let child_key = "agent:main:subagent:57fd3731-bf9d-4874-9cf2-eb6c7b97878e";
        let child = &entries[child_key];
        assert!(child.spawned_by.is_some());
        assert_eq!(
            route_for(child_key, child),
            route("default", channel(TOWN), None)
        );
    }

    #[test]
    fn a_2026_4_thread_reply_in_the_channel_session_goes_top_level() {
        let e = entry(&format!(
            r#"{{"deliveryContext":{{"channel":"mattermost","to":"channel:{TOWN}","accountId":"default"}},
               "lastChannel":"mattermost","lastTo":"channel:{TOWN}"}}"#
        ));
        let key = format!("agent:main:mattermost:channel:{TOWN}");
        assert_eq!(route_for(&key, &e), route("default", channel(TOWN), None));
    }

    #[test]
    fn the_key_alone_is_enough_and_its_shapes_are_all_understood() {
        let empty = SessionEntry::default();
        let cases = [
            (
                format!("agent:main:mattermost:channel:{TOWN}"),
                channel(TOWN),
                None,
                "default",
            ),
            (
                format!("agent:ops:mattermost:group:{OTHER}"),
                channel(OTHER),
                None,
                "default",
            ),
            (
                format!("agent:main:mattermost:direct:{ALICE}"),
                user(ALICE),
                None,
                "default",
            ),
            (
                format!("agent:main:mattermost:dm:{ALICE}"),
                user(ALICE),
                None,
                "default",
            ),
            (
                format!("agent:main:mattermost:work:direct:{ALICE}"),
                user(ALICE),
                None,
                "work",
            ),
            (
                format!("agent:main:mattermost:channel:{TOWN}:thread:{ROOT}"),
                channel(TOWN),
                Some(ROOT),
                "default",
            ),
        ];
        for (key, target, root, account) in cases {
            assert_eq!(
                route_for(&key, &empty),
                route(account, target, root),
                "{key}"
            );
        }
        for key in [
            "agent:main:main".to_owned(),
            format!("agent:main:telegram:group:{TOWN}"),
            format!("agent:main:mattermost:channel:{TOWN}:extra"),
            format!("agent:main:mattermost:topic:{TOWN}"),
            "agent:main:mattermost:channel:c1".to_owned(),
            format!("mattermost:channel:{TOWN}"),
            String::new(),
            ":::::".to_owned(),
        ] {
            assert_eq!(route_for(&key, &empty), None, "{key:?}");
        }
    }

    #[test]
    fn the_thread_of_the_key_fills_in_when_the_entry_has_none() {
        let e = entry(&format!(
            r#"{{"deliveryContext":{{"channel":"mattermost","to":"channel:{TOWN}"}}}}"#
        ));
        let key = format!("agent:main:mattermost:channel:{TOWN}:thread:{ROOT}");
        assert_eq!(
            route_for(&key, &e),
            route("default", channel(TOWN), Some(ROOT))
        );
    }

    #[test]
    fn the_latest_delivery_to_another_channel_unbinds_a_shared_session() {
        let e = entry(&format!(
            r#"{{"deliveryContext":{{"channel":"telegram","to":"telegram:123456"}},
               "lastChannel":"telegram","lastTo":"telegram:123456",
               "origin":{{"provider":"mattermost","to":"user:{ALICE}"}}}}"#
        ));
        assert_eq!(route_for("agent:main:main", &e), None);
        // A Mattermost-shaped key does not outvote what the entry says.
        let key = format!("agent:main:mattermost:direct:{ALICE}");
        assert_eq!(route_for(&key, &e), None);

        let unbound = entry(r#"{"deliveryContext":{"to":"channel:x"},"lastTo":"user:y"}"#);
        assert_eq!(route_for("agent:main:main", &unbound), None);
    }

    #[test]
    fn sources_of_another_channel_are_skipped_part_by_part() {
        let e = entry(&format!(
            r#"{{"deliveryContext":{{"channel":"mattermost","to":"user:{ALICE}"}},
               "lastChannel":"slack","lastTo":"channel:C0123","lastThreadId":"{ROOT}",
               "lastAccountId":"slackbot"}}"#
        ));
        assert_eq!(
            route_for("agent:main:main", &e),
            route("default", user(ALICE), None)
        );
    }

    #[test]
    fn a_thread_or_account_recorded_for_another_target_is_not_borrowed() {
        let e = entry(&format!(
            r#"{{"deliveryContext":{{"channel":"mattermost","to":"channel:{TOWN}"}},
               "lastChannel":"mattermost","lastTo":"channel:{OTHER}","lastThreadId":"{ROOT}",
               "lastAccountId":"work",
               "origin":{{"provider":"mattermost","to":"channel:{TOWN}","accountId":"alerts"}}}}"#
        ));
        let key = format!("agent:main:mattermost:channel:{TOWN}");
        assert_eq!(route_for(&key, &e), route("alerts", channel(TOWN), None));
    }

    #[test]
    fn preference_runs_delivery_context_route_last_origin_key() {
        let full = format!(
            r#"{{"deliveryContext":{{"channel":"mattermost","to":"channel:{TOWN}","threadId":"{ROOT}","accountId":"dc"}},
               "route":{{"channel":"mattermost","accountId":"rt","target":{{"to":"channel:{TOWN}"}},"thread":{{"id":"{ROOT}"}}}},
               "lastChannel":"mattermost","lastTo":"channel:{TOWN}","lastAccountId":"last",
               "origin":{{"provider":"mattermost","to":"channel:{TOWN}","accountId":"origin"}}}}"#
        );
        let mut value: Value = serde_json::from_str(&full).expect("json");
        let key = format!("agent:main:mattermost:work:direct:{ALICE}");
        let expect = |v: &Value, account: &str| {
            let e: SessionEntry = serde_json::from_value(v.clone()).expect("entry");
            assert_eq!(
                route_for(&key, &e).map(|r| r.account_id),
                Some(account.to_owned())
            );
        };
        expect(&value, "dc");
        value["deliveryContext"] = Value::Null;
        expect(&value, "rt");
        value["route"] = Value::Null;
        expect(&value, "last");
        value["lastAccountId"] = Value::Null;
        expect(&value, "origin");
        value["origin"]["accountId"] = Value::Null;
        // The key's account belongs to its own target (the DM), not to the channel.
        expect(&value, "default");
        let e = SessionEntry::default();
        assert_eq!(route_for(&key, &e), route("work", user(ALICE), None));
    }

    #[test]
    fn origin_alone_routes_and_its_user_target_reads_as_a_dm() {
        let e = entry(&format!(
            r#"{{"origin":{{"provider":"mattermost","surface":"mattermost","chatType":"direct",
               "from":"mattermost:{ALICE}","to":"user:{ALICE}","accountId":"default"}}}}"#
        ));
        assert_eq!(
            route_for("agent:main:main", &e),
            route("default", user(ALICE), None)
        );
    }

    #[test]
    fn targets_are_read_as_the_mattermost_plugin_reads_them() {
        for (to, expected) in [
            (format!("channel:{TOWN}"), Some(channel(TOWN))),
            (format!("CHANNEL:{TOWN}"), Some(channel(TOWN))),
            (format!("  user:{ALICE} "), Some(user(ALICE))),
            (format!("mattermost:{ALICE}"), Some(user(ALICE))),
            (TOWN.to_owned(), Some(channel(TOWN))),
            ("@alice".to_owned(), None),
            (format!("group:{TOWN}"), None),
            (format!("channel:{}", TOWN.to_uppercase()), None),
            (format!("channel:{TOWN}x"), None),
            (format!("channel:{}", &TOWN[1..]), None),
            (format!("channel: {TOWN}"), Some(channel(TOWN))),
            (format!("channel:{TOWN} x"), None),
            ("channel:".to_owned(), None),
            (format!("channel:../{}", &TOWN[3..]), None),
            (format!("user:{ALICE}/x"), None),
        ] {
            assert_eq!(parse_to(&to), expected, "{to:?}");
        }
    }

    #[test]
    fn garbage_degrades_part_by_part_and_never_panics() {
        // `to` garbage in deliveryContext: the next source's target is used.
        let e = entry(&format!(
            r#"{{"deliveryContext":{{"channel":"mattermost","to":42,"threadId":["x"],"accountId":"a b"}},
               "lastTo":"channel:{TOWN}","lastThreadId":"{ROOT}/x","lastAccountId":"../etc"}}"#
        ));
        assert_eq!(
            route_for("agent:main:main", &e),
            route("default", channel(TOWN), None)
        );

        let e = entry(
            r#"{"deliveryContext":"mattermost","origin":[1,2,3],"route":{"target":"x","thread":7}}"#,
        );
        assert_eq!(route_for("agent:main:main", &e), None);

        // Bound to Mattermost but with nowhere to go.
        let e = entry(r#"{"deliveryContext":{"channel":"mattermost","to":"@alice"}}"#);
        assert_eq!(route_for("agent:main:main", &e), None);

        // A numeric thread id (another channel's) is no Mattermost post.
        let e = entry(&format!(
            r#"{{"deliveryContext":{{"channel":"mattermost","to":"channel:{TOWN}","threadId":1712345678}},"lastThreadId":99}}"#
        ));
        assert_eq!(
            route_for("agent:main:main", &e),
            route("default", channel(TOWN), None)
        );

        let weird_keys = [
            "agent",
            "agent:",
            "agent::mattermost::",
            "agent:x:mattermost:channel:\u{0}\u{1}",
            "agent:x:mattermost:channel:ch4town5quare00000000000ab:thread:",
            "agent:x:mattermost:channel:ch4town5quare00000000000ab:thread:é",
            "thread:jag0wjcd1t1cuuhaucllp7h6u4",
        ];
        for key in weird_keys {
            let _ = route_for(key, &SessionEntry::default());
        }
        assert_eq!(
            route_for(
                "agent:x:mattermost:channel:ch4town5quare00000000000ab:thread:",
                &SessionEntry::default()
            ),
            route("default", channel(TOWN), None)
        );
    }

    #[test]
    fn account_ids_are_case_folded_and_shape_checked() {
        assert_eq!(account_id(" Work "), Some("work".to_owned()));
        assert_eq!(account_id("a_b-9"), Some("a_b-9".to_owned()));
        assert_eq!(account_id(&"a".repeat(64)), Some("a".repeat(64)));
        for bad in [
            "",
            " ",
            "-x",
            "_x",
            "a/b",
            "a b",
            "a.b",
            "é",
            &"a".repeat(65),
        ] {
            assert_eq!(account_id(bad), None, "{bad:?}");
        }
    }
}
