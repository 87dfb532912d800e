//! `session_nodes` → the store's sessions, each with its Mattermost route.
//!
//! 2026.9 keeps the routing of an entry in `entry_json.delivery {kind, route, context, origin}`
//! instead of the JSONL era's top-level `deliveryContext`, `route` and `origin`. They are the same
//! objects, so they are mapped onto a `SessionEntry` and routed by `gateway::route::route_for`:
//! one routing implementation for every era. On top of it, a DM (`user:<id>`) goes straight to
//! its DM channel when the store recorded it (`delivery.origin.nativeChannelId`, or
//! `conversations.native_channel_id`), which saves the sink a `POST /channels/direct`.

use rusqlite::{OptionalExtension, Transaction};
use serde::Deserialize;
use serde_json::Value;

use super::StoreSession;
use super::schema::Schema;
use crate::gateway::route::{Route, Target, account_id, mattermost_id, route_for};
use crate::gateway::sessions_index::SessionEntry;

/// Longest `entry_json` parsed (2026.9.6 entries are about 20 KB, most of it the system prompt
/// report); a larger one keeps its session, without a route.
const MAX_ENTRY_BYTES: i64 = 4 << 20;

pub(super) fn list(tx: &Transaction<'_>, schema: &Schema) -> rusqlite::Result<Vec<StoreSession>> {
    let mut stmt = tx.prepare_cached(&schema.sessions_sql)?;
    let mut rows = stmt.query([])?;
    let mut sessions = Vec::new();
    while let Some(row) = rows.next()? {
        let key: String = row.get(0)?;
        let session_id: String = row.get(1)?;
        let entry_len: Option<i64> = row.get(3)?;
        let value = match row.get_ref(2)?.as_str_or_null() {
            Ok(Some(text)) if entry_len.is_none_or(|n| n <= MAX_ENTRY_BYTES) => {
                serde_json::from_str::<Value>(text).unwrap_or(Value::Null)
            }
            Ok(Some(_)) => {
                tracing::warn!(
                    session_key = %key,
                    size = entry_len,
                    "session entry too large to read; following the session without a route"
                );
                Value::Null
            }
            _ => Value::Null,
        };
        let entry = entry_of(&value);
        let column = |i: usize| -> rusqlite::Result<Option<String>> {
            Ok(row
                .get_ref(i)?
                .as_str_or_null()
                .ok()
                .flatten()
                .map(str::to_owned))
        };
        let spawned_by = column(4)?
            .or_else(|| entry.spawned_by.clone())
            .or(column(6)?);
        let label = column(5)?.or_else(|| entry.label.clone());
        let route = match route_for(&key, &entry) {
            Some(route) => Some(direct_channel(tx, schema, &entry, route)?),
            None => None,
        };
        sessions.push(StoreSession {
            key,
            session_id,
            spawned_by,
            label,
            route,
        });
    }
    Ok(sessions)
}

/// A `SessionEntry` from an `entry_json`: its own fields where present, and the `delivery`
/// objects in the JSONL-era places. `delivery` wins over stale top-level copies: it is what the
/// 2026.9 gateway maintains.
pub(super) fn entry_of(value: &Value) -> SessionEntry {
    // One odd field (a number where a string belongs) must not cost the routing.
    let mut entry = SessionEntry::deserialize(value).unwrap_or_default();
    if let Some(delivery) = value.get("delivery").filter(|d| d.is_object()) {
        let part = |name: &str| delivery.get(name).filter(|v| v.is_object()).cloned();
        if let Some(context) = part("context") {
            entry.delivery_context = Some(context);
        }
        if let Some(route) = part("route") {
            entry.route = Some(route);
        }
        if let Some(origin) = part("origin") {
            entry.origin = Some(origin);
        }
    }
    entry
}

/// A route to `user:<id>` becomes the DM channel the store recorded for that user and account,
/// if any; any other route is returned as it is.
fn direct_channel(
    tx: &Transaction<'_>,
    schema: &Schema,
    entry: &SessionEntry,
    mut route: Route,
) -> rusqlite::Result<Route> {
    let Target::User(user) = &route.target else {
        return Ok(route);
    };
    let mut channel = entry
        .origin
        .as_ref()
        .and_then(|origin| origin_dm_channel(origin, user, &route.account_id));
    if channel.is_none()
        && let Some(sql) = schema.dm_channel_sql
    {
        channel = tx
            .prepare_cached(sql)?
            .query_row([route.account_id.as_str(), user.as_str()], |r| {
                r.get::<_, Option<String>>(0)
            })
            .optional()?
            .flatten()
            .and_then(|id| mattermost_id(&id));
    }
    if let Some(channel) = channel {
        route.target = Target::Channel(channel);
    }
    Ok(route)
}

/// `origin.nativeChannelId`, trusted only when the origin is this very DM: a Mattermost origin
/// of the same account whose `to` is `user:<id>` or whose `from` is `mattermost:<id>`. The
/// shared `agent:main:main` session may have answered someone else, elsewhere, last time.
fn origin_dm_channel(origin: &Value, user: &str, account: &str) -> Option<String> {
    let text = |k: &str| origin.get(k).and_then(Value::as_str).map(str::trim);
    let mattermost = ["provider", "surface"]
        .iter()
        .filter_map(|k| text(k))
        .all(|c| c.eq_ignore_ascii_case("mattermost"));
    let same_account = text("accountId")
        .and_then(account_id)
        .is_none_or(|a| a == account);
    let is_user = |v: Option<&str>, prefix: &str| {
        v.and_then(|v| v.split_once(':'))
            .is_some_and(|(p, id)| p.eq_ignore_ascii_case(prefix) && id.trim() == user)
    };
    let same_user = is_user(text("to"), "user") || is_user(text("from"), "mattermost");
    if !(mattermost && same_account && same_user) {
        return None;
    }
    text("nativeChannelId").and_then(mattermost_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ALICE: &str = "us3a7lice0000000000000000a";
    const DM: &str = "ch7dm0alice0bot00000000000";

    fn dm_origin() -> Value {
        json!({"provider": "mattermost", "surface": "mattermost", "chatType": "direct",
               "from": format!("mattermost:{ALICE}"), "to": format!("user:{ALICE}"),
               "nativeChannelId": DM, "accountId": "default"})
    }

    #[test]
    fn the_dm_channel_of_the_same_user_and_account_is_trusted() {
        assert_eq!(
            origin_dm_channel(&dm_origin(), ALICE, "default").as_deref(),
            Some(DM)
        );
        assert_eq!(origin_dm_channel(&dm_origin(), ALICE, "other"), None);
        assert_eq!(
            origin_dm_channel(&dm_origin(), "us9bob000000000000000000bb", "default"),
            None
        );
        let mut telegram = dm_origin();
        telegram["provider"] = json!("telegram");
        assert_eq!(origin_dm_channel(&telegram, ALICE, "default"), None);
        let mut garbage = dm_origin();
        garbage["nativeChannelId"] = json!("../../etc");
        assert_eq!(origin_dm_channel(&garbage, ALICE, "default"), None);
    }

    #[test]
    fn delivery_objects_take_the_jsonl_places() {
        let entry = entry_of(&json!({
            "sessionId": "s",
            "deliveryContext": {"channel": "telegram", "to": "123"},
            "delivery": {"kind": "external",
                         "context": {"channel": "mattermost", "to": format!("user:{ALICE}")},
                         "origin": dm_origin()}
        }));
        assert_eq!(
            entry.delivery_context,
            Some(json!({"channel": "mattermost", "to": format!("user:{ALICE}")}))
        );
        assert_eq!(entry.origin, Some(dm_origin()));
        assert_eq!(entry.session_id.as_deref(), Some("s"));
    }

    #[test]
    fn an_odd_field_does_not_cost_the_route() {
        let entry = entry_of(&json!({
            "sessionId": 42,
            "delivery": {"context": {"channel": "mattermost", "to": "channel:ch4town5quare00000000000ab"}}
        }));
        assert!(entry.delivery_context.is_some());
    }
}
