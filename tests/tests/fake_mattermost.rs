//! The fake Mattermost server answers and refuses the way the real one does.
//!
//! Requests go through a minimal HTTP/1.1 client over `std::net::TcpStream`, so nothing here
//! depends on the HTTP stack the daemon uses.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use livestatus_e2e::fake_mattermost::{
    ALICE_USER_ID, BOT_TOKEN, BOT_USER_ID, Channel, DM_CHANNEL_ID, FakeMattermost, Fault, TEAM_ID,
    TOWN_SQUARE_ID, User, World, dm_name,
};
use serde_json::{Value, json};

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The Mattermost error id, after checking the whole AppError shape.
    fn error_id(&self) -> String {
        let v = self.json();
        let obj = v.as_object().expect("error object");
        for key in [
            "id",
            "message",
            "detailed_error",
            "request_id",
            "status_code",
        ] {
            assert!(obj.contains_key(key), "error body without {key}: {v}");
        }
        assert_eq!(v["status_code"], json!(self.status), "{v}");
        assert_eq!(v["detailed_error"], json!(""), "{v}");
        assert_eq!(
            v["request_id"].as_str(),
            self.header("x-request-id"),
            "request id in body and header"
        );
        v["id"].as_str().expect("id").to_owned()
    }
}

fn send(
    base: &str,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<&[u8]>,
    timeout: Duration,
) -> std::io::Result<Resp> {
    let host = base.strip_prefix("http://").expect("http base url");
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(timeout))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if let Some(a) = auth {
        head.push_str(&format!("Authorization: {a}\r\n"));
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() || method != "GET" {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .expect("status line")
        .split(' ')
        .nth(1)
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Ok(Resp {
        status: status.parse().expect("numeric status"),
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size");
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16)
            .expect("hex chunk size");
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
}

const BEARER: &str = "Bearer fake-mm-bot-token-not-secret";

fn get(mm: &FakeMattermost, path: &str) -> Resp {
    send(
        &mm.base_url(),
        "GET",
        path,
        Some(BEARER),
        None,
        Duration::from_secs(10),
    )
    .expect("GET")
}

fn call(mm: &FakeMattermost, method: &str, path: &str, body: &Value) -> Resp {
    let body = serde_json::to_vec(body).expect("body");
    send(
        &mm.base_url(),
        method,
        path,
        Some(BEARER),
        Some(&body),
        Duration::from_secs(10),
    )
    .expect("request")
}

fn create(mm: &FakeMattermost, body: &Value) -> Resp {
    call(mm, "POST", "/api/v4/posts", body)
}

fn create_ok(mm: &FakeMattermost, channel_id: &str, message: &str) -> Value {
    let r = create(mm, &json!({"channel_id": channel_id, "message": message}));
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

fn patch(mm: &FakeMattermost, id: &str, body: &Value) -> Resp {
    call(mm, "PUT", &format!("/api/v4/posts/{id}/patch"), body)
}

fn put(mm: &FakeMattermost, id: &str, body: &Value) -> Resp {
    call(mm, "PUT", &format!("/api/v4/posts/{id}"), body)
}

fn str_of(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {v}"))
        .to_owned()
}

#[test]
fn the_default_world_is_the_fixtures_world() {
    let mm = FakeMattermost::start();
    assert_eq!(BOT_TOKEN, "fake-mm-bot-token-not-secret");
    let me = get(&mm, "/api/v4/users/me");
    assert_eq!(me.status, 200);
    let me = me.json();
    assert_eq!(me["id"], json!(BOT_USER_ID));
    assert_eq!(me["username"], json!("openclaw"));
    assert_eq!(me["is_bot"], json!(true));

    let alice = get(&mm, &format!("/api/v4/users/{ALICE_USER_ID}")).json();
    assert_eq!(alice["username"], json!("alice"));
    assert!(
        alice.get("is_bot").is_none(),
        "humans carry no is_bot key: {alice}"
    );

    let town = get(&mm, &format!("/api/v4/channels/{TOWN_SQUARE_ID}")).json();
    assert_eq!(
        (town["type"].clone(), town["team_id"].clone()),
        (json!("O"), json!(TEAM_ID))
    );
    assert_eq!(town["name"], json!("town-square"));
    let dm = get(&mm, &format!("/api/v4/channels/{DM_CHANNEL_ID}")).json();
    assert_eq!(dm["type"], json!("D"));
    assert_eq!(dm["team_id"], json!(""));
    assert_eq!(dm["name"], json!(format!("{BOT_USER_ID}__{ALICE_USER_ID}")));

    let missing = get(&mm, "/api/v4/users/zzzzzzzzzzzzzzzzzzzzzzzzzz");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error_id(), "app.user.missing_account.const");
    let malformed = get(&mm, "/api/v4/users/short");
    assert_eq!(malformed.status, 400);
    assert_eq!(
        malformed.error_id(),
        "api.context.invalid_url_param.app_error"
    );
    let no_channel = get(&mm, "/api/v4/channels/zzzzzzzzzzzzzzzzzzzzzzzzzz");
    assert_eq!(no_channel.status, 404);
    assert_eq!(no_channel.error_id(), "app.channel.get.existing.app_error");

    let ping = send(
        &mm.base_url(),
        "GET",
        "/api/v4/system/ping",
        None,
        None,
        Duration::from_secs(5),
    )
    .expect("ping");
    assert_eq!(
        (ping.status, ping.json()["status"].clone()),
        (200, json!("OK"))
    );
}

#[test]
fn a_bad_missing_or_query_string_token_is_refused_with_401() {
    let mm = FakeMattermost::start();
    let base = mm.base_url();
    let t = Duration::from_secs(5);
    for auth in [None, Some("Bearer wrong-token"), Some("Basic Zm9vOmJhcg==")] {
        let r = send(&base, "GET", "/api/v4/users/me", auth, None, t).expect("request");
        assert_eq!(r.status, 401, "{auth:?}");
        assert_eq!(r.error_id(), "api.context.session_expired.app_error");
    }
    // The scheme is matched without regard to case, as ParseAuthTokenFromRequest does.
    let lower = send(
        &base,
        "GET",
        "/api/v4/users/me",
        Some("bearer fake-mm-bot-token-not-secret"),
        None,
        t,
    )
    .expect("request");
    assert_eq!(lower.status, 200);
    let query = send(
        &base,
        "GET",
        "/api/v4/users/me?access_token=fake-mm-bot-token-not-secret",
        None,
        None,
        t,
    )
    .expect("request");
    assert_eq!(query.status, 401);
    assert_eq!(query.error_id(), "api.context.token_provided.app_error");
    let post = send(
        &base,
        "POST",
        "/api/v4/posts",
        Some("Bearer nope"),
        Some(b"{}"),
        t,
    )
    .expect("request");
    assert_eq!(post.status, 401);
    // Unknown paths and the public endpoints need no session: no 401 there.
    let unknown = send(&base, "GET", "/api/v4/no/such/thing", None, None, t).expect("request");
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.error_id(), "api.context.404.app_error");
    let wrong_method = send(
        &base,
        "PATCH",
        "/api/v4/posts",
        Some(BEARER),
        Some(b"{}"),
        t,
    )
    .expect("request");
    assert_eq!(wrong_method.status, 404);
    let ping = send(
        &base,
        "GET",
        "/api/v4/system/ping",
        Some("Bearer wrong"),
        None,
        t,
    )
    .expect("ping");
    assert_eq!(ping.status, 200);
    assert!(mm.posts().is_empty());
}

#[test]
fn taking_the_request_log_hands_over_each_request_once_and_the_server_keeps_logging() {
    let mm = FakeMattermost::start();
    create_ok(&mm, TOWN_SQUARE_ID, "first");
    let taken = mm.take_requests();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].status, Some(201));
    assert!(mm.requests().is_empty(), "the log was not emptied");
    create_ok(&mm, TOWN_SQUARE_ID, "second");
    let next = mm.take_requests();
    assert_eq!(next.len(), 1);
    assert_eq!(
        next[0].body.json().expect("json body")["message"],
        json!("second")
    );
    assert_eq!(
        mm.posts().len(),
        2,
        "taking the log must not touch the posts"
    );
}

#[test]
fn the_request_log_never_holds_a_credential() {
    let mm = FakeMattermost::start();
    create_ok(&mm, TOWN_SQUARE_ID, "hello");
    let _ = send(
        &mm.base_url(),
        "GET",
        "/api/v4/users/me?access_token=fake-mm-bot-token-not-secret",
        None,
        None,
        Duration::from_secs(5),
    );
    let log = mm.requests();
    assert_eq!(log.len(), 2);
    assert!(!format!("{log:?}").contains(BOT_TOKEN), "{log:#?}");
    assert_eq!(log[0].header("authorization"), Some("Bearer <redacted>"));
    assert_eq!(log[0].user_id.as_deref(), Some(BOT_USER_ID));
    assert_eq!(
        (log[0].method.as_str(), log[0].path.as_str()),
        ("POST", "/api/v4/posts")
    );
    assert_eq!(
        log[0].body.json().expect("json body")["message"],
        json!("hello")
    );
    assert_eq!(log[0].status, Some(201));
    assert_eq!(log[1].query, "access_token=<redacted>");
    assert_eq!(log[1].status, Some(401));
}

#[test]
fn a_created_post_is_the_full_post_object_with_a_mattermost_id() {
    let mm = FakeMattermost::start();
    let r = create(
        &mm,
        &json!({"channel_id": TOWN_SQUARE_ID, "message": "status", "props": {"box": 1}, "pending_post_id": "p1"}),
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let p = r.json();
    let id = str_of(&p, "id");
    assert_eq!(id.len(), 26);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        "{id}"
    );
    assert_eq!(p["user_id"], json!(BOT_USER_ID));
    assert_eq!(p["root_id"], json!(""));
    assert_eq!(p["edit_at"], json!(0));
    assert_eq!(p["create_at"], p["update_at"]);
    assert_eq!(p["pending_post_id"], json!("p1"));
    // The server marks a bot's posts itself.
    assert_eq!(p["props"], json!({"box": 1, "from_bot": "true"}));
    for key in [
        "type",
        "hashtags",
        "file_ids",
        "reply_count",
        "metadata",
        "is_pinned",
        "delete_at",
    ] {
        assert!(p.get(key).is_some(), "{key} missing from {p}");
    }
    let stored = mm.post(&id).expect("stored");
    assert_eq!(stored.message, "status");
    assert_eq!(stored.create_at, p["create_at"].as_i64().expect("ms"));
    let fetched = get(&mm, &format!("/api/v4/posts/{id}")).json();
    assert_eq!(fetched["message"], json!("status"));
    assert_eq!(fetched["pending_post_id"], json!(""), "not stored");
}

#[test]
fn a_retried_create_with_the_same_pending_post_id_returns_the_first_post() {
    let mm = FakeMattermost::start();
    let body = json!({"channel_id": TOWN_SQUARE_ID, "message": "once", "pending_post_id": "bt9:1"});
    let first = create(&mm, &body).json();
    let again = create(&mm, &body);
    assert_eq!(again.status, 201);
    assert_eq!(again.json()["id"], first["id"]);
    assert_eq!(mm.posts().len(), 1);
    let other = create(
        &mm,
        &json!({"channel_id": TOWN_SQUARE_ID, "message": "once", "pending_post_id": "bt9:2"}),
    );
    assert_ne!(other.json()["id"], first["id"]);
    assert_eq!(mm.posts().len(), 2);
}

#[test]
fn patch_changes_only_what_it_is_given_and_keeps_props() {
    let mm = FakeMattermost::start();
    let p = create_ok(&mm, TOWN_SQUARE_ID, "v1");
    let id = str_of(&p, "id");
    let r = patch(&mm, &id, &json!({"message": "v2"}));
    assert_eq!(r.status, 200);
    let v2 = r.json();
    assert_eq!(v2["message"], json!("v2"));
    assert_eq!(v2["props"], json!({"from_bot": "true"}));
    assert!(v2["edit_at"].as_i64().expect("edit_at") > 0);
    assert!(v2["update_at"].as_i64() > p["update_at"].as_i64());

    let with_props = patch(&mm, &id, &json!({"props": {"livestatus": {"seq": 3}}})).json();
    assert_eq!(with_props["message"], json!("v2"), "message untouched");
    assert_eq!(
        with_props["edit_at"], v2["edit_at"],
        "props alone are not an edit"
    );
    assert_eq!(
        with_props["props"],
        json!({"livestatus": {"seq": 3}, "from_bot": "true"})
    );

    let again = patch(&mm, &id, &json!({"message": "v3"})).json();
    assert_eq!(
        again["props"],
        json!({"livestatus": {"seq": 3}, "from_bot": "true"})
    );
    let stored = mm.post(&id).expect("post");
    assert_eq!(stored.message, "v3");
    assert_eq!(
        stored.props,
        json!({"livestatus": {"seq": 3}, "from_bot": "true"})
    );
    assert_eq!(mm.post_history(&id).len(), 3, "one old version per edit");
    assert_eq!(mm.posts().len(), 1);
}

#[test]
fn put_replaces_the_post_wholesale_and_wipes_props_it_is_not_given() {
    let mm = FakeMattermost::start();
    let p = create(&mm, &json!({"channel_id": TOWN_SQUARE_ID, "message": "v1", "props": {"livestatus": {"seq": 1}}})).json();
    let id = str_of(&p, "id");
    let r = put(&mm, &id, &json!({"id": id, "message": "v2"}));
    assert_eq!(r.status, 200, "{}", r.text());
    // Only the identity prop the server itself set survives.
    assert_eq!(r.json()["props"], json!({"from_bot": "true"}));
    assert_eq!(
        mm.post(&id).expect("post").props,
        json!({"from_bot": "true"})
    );

    let no_message = put(&mm, &id, &json!({"id": id}));
    assert_eq!(
        no_message.json()["message"],
        json!(""),
        "a missing message is an empty one"
    );

    let mismatch = put(
        &mm,
        &id,
        &json!({"id": "zzzzzzzzzzzzzzzzzzzzzzzzzz", "message": "x"}),
    );
    assert_eq!(mismatch.status, 400);
    assert_eq!(
        mismatch.error_id(),
        "api.context.invalid_body_param.app_error"
    );
    let no_id = put(&mm, &id, &json!({"message": "x"}));
    assert_eq!(no_id.status, 400);
    let not_json = send(
        &mm.base_url(),
        "PUT",
        &format!("/api/v4/posts/{id}/patch"),
        Some(BEARER),
        Some(b"{oops"),
        Duration::from_secs(5),
    )
    .expect("request");
    assert_eq!(not_json.status, 400);
    assert_eq!(
        not_json.error_id(),
        "api.context.invalid_body_param.app_error"
    );
}

#[test]
fn posting_and_editing_need_channel_membership() {
    let mm = FakeMattermost::start();
    let mine = create_ok(&mm, TOWN_SQUARE_ID, "before");
    let id = str_of(&mine, "id");
    mm.remove_member(TOWN_SQUARE_ID, BOT_USER_ID);

    let r = create(
        &mm,
        &json!({"channel_id": TOWN_SQUARE_ID, "message": "after"}),
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.error_id(), "api.context.permissions.app_error");
    let r = patch(&mm, &id, &json!({"message": "edit"}));
    assert_eq!(r.status, 403);
    assert_eq!(r.error_id(), "api.context.permissions.app_error");
    assert_eq!(mm.post(&id).expect("post").message, "before");
    // Reading a public channel is the team's right, not the channel's.
    assert_eq!(
        get(&mm, &format!("/api/v4/channels/{TOWN_SQUARE_ID}")).status,
        200
    );
    assert_eq!(get(&mm, &format!("/api/v4/posts/{id}")).status, 200);

    mm.remove_member(DM_CHANNEL_ID, BOT_USER_ID);
    assert_eq!(
        get(&mm, &format!("/api/v4/channels/{DM_CHANNEL_ID}")).status,
        403
    );
    mm.add_member(TOWN_SQUARE_ID, BOT_USER_ID);
    assert_eq!(patch(&mm, &id, &json!({"message": "edit"})).status, 200);
}

#[test]
fn the_bot_cannot_edit_someone_elses_post_and_unknown_targets_fail_as_the_server_fails() {
    let mm = FakeMattermost::start();
    let hers = mm.inject_post(TOWN_SQUARE_ID, ALICE_USER_ID, "[scen:tools] hi", None);
    let r = patch(&mm, &hers.id, &json!({"message": "hijacked"}));
    assert_eq!(
        (r.status, r.error_id()),
        (403, "api.context.permissions.app_error".to_owned())
    );
    let r = put(
        &mm,
        &hers.id,
        &json!({"id": hers.id, "message": "hijacked"}),
    );
    assert_eq!(r.status, 403);
    assert_eq!(mm.post(&hers.id).expect("post").message, "[scen:tools] hi");

    // Unknown channel: the permission check comes first.
    let r = create(
        &mm,
        &json!({"channel_id": "zzzzzzzzzzzzzzzzzzzzzzzzzz", "message": "x"}),
    );
    assert_eq!(
        (r.status, r.error_id()),
        (403, "api.context.permissions.app_error".to_owned())
    );
    let r = create(&mm, &json!({"message": "no channel"}));
    assert_eq!(r.status, 403);
    // Unknown post: 404 to read or delete, 403 to edit.
    let unknown = "zzzzzzzzzzzzzzzzzzzzzzzzzz";
    let r = get(&mm, &format!("/api/v4/posts/{unknown}"));
    assert_eq!(
        (r.status, r.error_id()),
        (404, "app.post.get.app_error".to_owned())
    );
    let r = patch(&mm, unknown, &json!({"message": "x"}));
    assert_eq!(
        (r.status, r.error_id()),
        (403, "api.context.permissions.app_error".to_owned())
    );
    let r = put(&mm, unknown, &json!({"id": unknown, "message": "x"}));
    assert_eq!(r.status, 403);
    let r = call(
        &mm,
        "DELETE",
        &format!("/api/v4/posts/{unknown}"),
        &json!(null),
    );
    assert_eq!(r.status, 404);
    let r = patch(&mm, "tooshort", &json!({"message": "x"}));
    assert_eq!(
        (r.status, r.error_id()),
        (400, "api.context.invalid_url_param.app_error".to_owned())
    );
    // A client may not pick the id, nor make system posts.
    let r = create(
        &mm,
        &json!({"id": unknown, "channel_id": TOWN_SQUARE_ID, "message": "x"}),
    );
    assert_eq!(
        (r.status, r.error_id()),
        (400, "app.post.save.existing.app_error".to_owned())
    );
    let r = create(
        &mm,
        &json!({"channel_id": TOWN_SQUARE_ID, "message": "x", "type": "system_join_channel"}),
    );
    assert_eq!(
        (r.status, r.error_id()),
        (400, "api.context.invalid_param.app_error".to_owned())
    );
    let r = create(
        &mm,
        &json!({"channel_id": TOWN_SQUARE_ID, "message": "x", "type": "custom_livestatus"}),
    );
    assert_eq!(r.status, 201);
    let r = create(&mm, &json!({"channel_id": TOWN_SQUARE_ID, "message": 5}));
    assert_eq!(
        (r.status, r.error_id()),
        (400, "api.context.invalid_body_param.app_error".to_owned())
    );
}

#[test]
fn the_size_limit_counts_runes_and_applies_to_every_write() {
    let mm = FakeMattermost::start();
    let max = 16383;
    // 'é' is two bytes: a byte-counting client would think this is twice too long.
    let exact: String = "é".repeat(max);
    let over: String = "é".repeat(max + 1);
    let ok = create(
        &mm,
        &json!({"channel_id": TOWN_SQUARE_ID, "message": exact}),
    );
    assert_eq!(ok.status, 201);
    let too_long = create(&mm, &json!({"channel_id": TOWN_SQUARE_ID, "message": over}));
    assert_eq!(too_long.status, 400);
    assert_eq!(
        too_long.error_id(),
        "model.post.is_valid.message_length.app_error"
    );
    assert_eq!(mm.posts().len(), 1);

    let id = str_of(&ok.json(), "id");
    let r = patch(&mm, &id, &json!({"message": over}));
    assert_eq!(
        (r.status, r.error_id()),
        (
            400,
            "model.post.is_valid.message_length.app_error".to_owned()
        )
    );
    let r = put(&mm, &id, &json!({"id": id, "message": over}));
    assert_eq!(r.status, 400);
    assert_eq!(
        mm.post(&id).expect("post").message,
        exact,
        "a refused edit changes nothing"
    );
    assert!(mm.post_history(&id).is_empty());
    // 4-byte characters count once too.
    let emoji: String = "🦀".repeat(max);
    assert_eq!(patch(&mm, &id, &json!({"message": emoji})).status, 200);

    // The limit a client can learn, only with a session.
    let cfg = get(&mm, "/api/v4/config/client?format=old");
    assert_eq!(cfg.status, 200);
    assert_eq!(cfg.json()["MaxPostSize"], json!("16383"));
    let anon = send(
        &mm.base_url(),
        "GET",
        "/api/v4/config/client?format=old",
        None,
        None,
        Duration::from_secs(5),
    )
    .expect("anonymous config");
    assert_eq!(anon.status, 200);
    assert!(anon.json().get("MaxPostSize").is_none());
    let no_format = get(&mm, "/api/v4/config/client");
    assert_eq!(
        (no_format.status, no_format.error_id()),
        (501, "api.config.client.old_format.app_error".to_owned())
    );
}

#[test]
fn a_smaller_server_limit_is_enforced_and_advertised() {
    let mm = FakeMattermost::start_with(World {
        max_post_runes: 10,
        ..World::default()
    });
    assert_eq!(
        get(&mm, "/api/v4/config/client?format=old").json()["MaxPostSize"],
        json!("10")
    );
    assert_eq!(
        create(
            &mm,
            &json!({"channel_id": TOWN_SQUARE_ID, "message": "0123456789"})
        )
        .status,
        201
    );
    assert_eq!(
        create(
            &mm,
            &json!({"channel_id": TOWN_SQUARE_ID, "message": "0123456789A"})
        )
        .status,
        400
    );
}

#[test]
fn a_reply_needs_a_root_post_of_the_same_channel() {
    let mm = FakeMattermost::start();
    let root = mm.inject_post(TOWN_SQUARE_ID, ALICE_USER_ID, "[scen:tools] please", None);
    let reply = create(
        &mm,
        &json!({"channel_id": TOWN_SQUARE_ID, "message": "box", "root_id": root.id}),
    );
    assert_eq!(reply.status, 201);
    let reply = reply.json();
    assert_eq!(reply["root_id"], json!(root.id));
    let root_now = mm.post(&root.id).expect("root");
    assert_eq!(
        root_now.update_at,
        reply["create_at"].as_i64().expect("ms"),
        "a reply moves its root"
    );

    let r = create(
        &mm,
        &json!({"channel_id": TOWN_SQUARE_ID, "message": "x", "root_id": "zzzzzzzzzzzzzzzzzzzzzzzzzz"}),
    );
    assert_eq!(
        (r.status, r.error_id()),
        (400, "api.post.create_post.root_id.app_error".to_owned())
    );
    let r = create(
        &mm,
        &json!({"channel_id": TOWN_SQUARE_ID, "message": "x", "root_id": "not-an-id"}),
    );
    assert_eq!(
        (r.status, r.error_id()),
        (400, "api.post.create_post.root_id.app_error".to_owned())
    );
    let r = create(
        &mm,
        &json!({"channel_id": DM_CHANNEL_ID, "message": "x", "root_id": root.id}),
    );
    assert_eq!(
        (r.status, r.error_id()),
        (
            400,
            "api.post.create_post.channel_root_id.app_error".to_owned()
        )
    );
    let r = create(
        &mm,
        &json!({"channel_id": TOWN_SQUARE_ID, "message": "x", "root_id": reply["id"]}),
    );
    assert_eq!(
        (r.status, r.error_id()),
        (400, "api.post.create_post.root_id.app_error".to_owned())
    );
    let deleted = create_ok(&mm, TOWN_SQUARE_ID, "gone");
    let del = call(
        &mm,
        "DELETE",
        &format!("/api/v4/posts/{}", str_of(&deleted, "id")),
        &json!(null),
    );
    assert_eq!((del.status, del.json()), (200, json!({"status": "OK"})));
    let r = create(
        &mm,
        &json!({"channel_id": TOWN_SQUARE_ID, "message": "x", "root_id": deleted["id"]}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(mm.posts().len(), 3);
}

#[test]
fn rate_limited_requests_get_429_with_the_limiter_headers_and_change_nothing() {
    let mm = FakeMattermost::start();
    mm.rate_limit_next(2, 3);
    for _ in 0..2 {
        let r = create(&mm, &json!({"channel_id": TOWN_SQUARE_ID, "message": "x"}));
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("3"));
        assert_eq!(r.header("x-ratelimit-limit"), Some("101"));
        assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
        assert_eq!(
            r.header("x-ratelimit-reset"),
            Some("3"),
            "seconds, not a timestamp"
        );
        assert_eq!(r.text(), "limit exceeded\n", "plain text, not an AppError");
    }
    assert!(mm.posts().is_empty());
    assert_eq!(
        create(&mm, &json!({"channel_id": TOWN_SQUARE_ID, "message": "x"})).status,
        201
    );
    let faults: Vec<Option<Fault>> = mm.requests().into_iter().map(|r| r.fault).collect();
    assert_eq!(
        faults,
        vec![
            Some(Fault::RateLimited { retry_after_s: 3 }),
            Some(Fault::RateLimited { retry_after_s: 3 }),
            None
        ]
    );
}

#[test]
fn injected_failures_and_a_down_server_answer_without_effect() {
    let mm = FakeMattermost::start();
    mm.fail_next(2, 502);
    for _ in 0..2 {
        let r = create(&mm, &json!({"channel_id": TOWN_SQUARE_ID, "message": "x"}));
        assert_eq!(r.status, 502);
        r.error_id();
    }
    mm.fail_next(1, 503);
    let busy = get(&mm, "/api/v4/users/me");
    assert_eq!(
        (busy.status, busy.error_id()),
        (503, "api.context.server_busy.app_error".to_owned())
    );
    assert!(mm.posts().is_empty());

    mm.set_down(true);
    let down = get(&mm, "/api/v4/system/ping");
    assert_eq!(down.status, 503);
    assert!(
        down.header("content-type")
            .is_some_and(|c| c.starts_with("text/html"))
    );
    assert!(create(&mm, &json!({"channel_id": TOWN_SQUARE_ID, "message": "x"})).status == 503);
    mm.set_down(false);
    assert_eq!(
        create(&mm, &json!({"channel_id": TOWN_SQUARE_ID, "message": "x"})).status,
        201
    );
    assert_eq!(mm.posts().len(), 1);
}

#[test]
fn a_hung_request_times_the_client_out_and_the_next_one_is_answered() {
    let mm = FakeMattermost::start();
    mm.hang_next(1);
    let body =
        serde_json::to_vec(&json!({"channel_id": TOWN_SQUARE_ID, "message": "x"})).expect("body");
    let started = std::time::Instant::now();
    let hung = send(
        &mm.base_url(),
        "POST",
        "/api/v4/posts",
        Some(BEARER),
        Some(&body),
        Duration::from_millis(300),
    );
    let err = match hung {
        Err(e) => e,
        Ok(r) => panic!("answered {} {}", r.status, r.text()),
    };
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{err:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        create(&mm, &json!({"channel_id": TOWN_SQUARE_ID, "message": "y"})).status,
        201
    );
    let log = mm.requests();
    assert_eq!(
        (log[0].fault.clone(), log[0].status),
        (Some(Fault::Hang), None)
    );
    assert_eq!(mm.posts().len(), 1, "the hung create had no effect");
    // Dropping the server with a request still hanging must not block.
    drop(mm);
}

#[test]
fn opening_a_direct_channel_is_idempotent() {
    let carol = "ca7rol00000000000000000000";
    let mut world = World::default();
    world.users.push(User::human(carol, "carol"));
    let mm = FakeMattermost::start_with(world);

    for ids in [
        json!([BOT_USER_ID, ALICE_USER_ID]),
        json!([ALICE_USER_ID, BOT_USER_ID]),
    ] {
        let r = call(&mm, "POST", "/api/v4/channels/direct", &ids);
        assert_eq!(r.status, 201);
        assert_eq!(r.json()["id"], json!(DM_CHANNEL_ID));
    }
    let first = call(
        &mm,
        "POST",
        "/api/v4/channels/direct",
        &json!([BOT_USER_ID, carol]),
    );
    assert_eq!(first.status, 201);
    let first = first.json();
    assert_eq!(first["type"], json!("D"));
    assert_eq!(first["name"], json!(dm_name(BOT_USER_ID, carol)));
    let again = call(
        &mm,
        "POST",
        "/api/v4/channels/direct",
        &json!([carol, BOT_USER_ID]),
    )
    .json();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(mm.channels().len(), 3);
    // The new DM is usable straight away.
    create_ok(&mm, first["id"].as_str().expect("id"), "hi carol");

    let r = call(
        &mm,
        "POST",
        "/api/v4/channels/direct",
        &json!([ALICE_USER_ID, carol]),
    );
    assert_eq!(
        (r.status, r.error_id()),
        (403, "api.context.permissions.app_error".to_owned())
    );
    let r = call(
        &mm,
        "POST",
        "/api/v4/channels/direct",
        &json!([BOT_USER_ID]),
    );
    assert_eq!(r.status, 201, "a single id of one's own is a self-DM");
    let r = call(
        &mm,
        "POST",
        "/api/v4/channels/direct",
        &json!([BOT_USER_ID, "zzzzzzzzzzzzzzzzzzzzzzzzzz"]),
    );
    assert_eq!(
        (r.status, r.error_id()),
        (
            400,
            "api.channel.create_direct_channel.invalid_user.app_error".to_owned()
        )
    );
    let r = call(
        &mm,
        "POST",
        "/api/v4/channels/direct",
        &json!([BOT_USER_ID, ALICE_USER_ID, carol]),
    );
    assert_eq!(
        (r.status, r.error_id()),
        (400, "api.context.invalid_body_param.app_error".to_owned())
    );
}

#[test]
fn since_returns_what_changed_after_a_time_and_pages_go_newest_first() {
    let mut world = World::default();
    world.channels.push(Channel::open(
        "ch0ther00000000000000000ab",
        TEAM_ID,
        "other",
        "Other",
        &[BOT_USER_ID],
    ));
    let mm = FakeMattermost::start_with(world);
    let p1 = create_ok(&mm, TOWN_SQUARE_ID, "one");
    let t1 = p1["create_at"].as_i64().expect("ms");
    let p2 = create_ok(&mm, TOWN_SQUARE_ID, "two");
    create_ok(&mm, "ch0ther00000000000000000ab", "elsewhere");

    let since = get(
        &mm,
        &format!("/api/v4/channels/{TOWN_SQUARE_ID}/posts?since={t1}"),
    )
    .json();
    assert_eq!(since["order"], json!([p2["id"]]));
    assert_eq!(since["posts"].as_object().expect("posts").len(), 1);
    assert_eq!(
        (since["next_post_id"].clone(), since["prev_post_id"].clone()),
        (json!(""), json!(""))
    );

    // `since` is about update_at: an edit brings an old post back, with its old version.
    let t2 = p2["create_at"].as_i64().expect("ms");
    let edited = patch(&mm, &str_of(&p1, "id"), &json!({"message": "one, edited"})).json();
    let since = get(
        &mm,
        &format!("/api/v4/channels/{TOWN_SQUARE_ID}/posts?since={t2}"),
    )
    .json();
    let order: Vec<&str> = since["order"]
        .as_array()
        .expect("order")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(order.len(), 2, "{since}");
    assert!(order.contains(&p1["id"].as_str().expect("id")));
    let history: Vec<&Value> = since["posts"]
        .as_object()
        .expect("posts")
        .values()
        .filter(|p| p["original_id"] == p1["id"])
        .collect();
    assert_eq!(history.len(), 1, "{since}");
    assert!(history[0]["delete_at"].as_i64() > Some(0));
    assert_eq!(
        history[0]["message"],
        json!(""),
        "deleted rows come back without text"
    );
    assert_eq!(
        since["posts"][p1["id"].as_str().expect("id")]["message"],
        edited["message"]
    );

    let page = get(
        &mm,
        &format!("/api/v4/channels/{TOWN_SQUARE_ID}/posts?page=0&per_page=1"),
    )
    .json();
    assert_eq!(page["order"], json!([p2["id"]]));
    assert_eq!(page["next_post_id"], json!(""));
    assert_eq!(page["prev_post_id"], p1["id"]);
    let page2 = get(
        &mm,
        &format!("/api/v4/channels/{TOWN_SQUARE_ID}/posts?page=1&per_page=1"),
    )
    .json();
    assert_eq!(page2["order"], json!([p1["id"]]));
    assert_eq!(
        (page2["next_post_id"].clone(), page2["prev_post_id"].clone()),
        (p2["id"].clone(), json!(""))
    );
    let all = get(&mm, &format!("/api/v4/channels/{TOWN_SQUARE_ID}/posts")).json();
    assert_eq!(all["order"], json!([p2["id"], p1["id"]]));
    let before = get(
        &mm,
        &format!(
            "/api/v4/channels/{TOWN_SQUARE_ID}/posts?before={}",
            str_of(&p2, "id")
        ),
    )
    .json();
    assert_eq!(before["order"], json!([p1["id"]]));
    assert_eq!(before["next_post_id"], p2["id"]);

    let bad = get(
        &mm,
        &format!("/api/v4/channels/{TOWN_SQUARE_ID}/posts?since=yesterday"),
    );
    assert_eq!(
        (bad.status, bad.error_id()),
        (400, "api.context.invalid_body_param.app_error".to_owned())
    );
    let missing = get(&mm, "/api/v4/channels/zzzzzzzzzzzzzzzzzzzzzzzzzz/posts");
    assert_eq!(missing.status, 404);
}

#[test]
fn dropping_the_server_closes_its_port() {
    let mm = FakeMattermost::start();
    let base = mm.base_url();
    assert!(base.starts_with("http://127.0.0.1:"));
    drop(mm);
    assert!(TcpStream::connect(base.trim_start_matches("http://")).is_err());
}
