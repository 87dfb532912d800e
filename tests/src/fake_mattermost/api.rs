//! Routing and handlers, each following the order of checks of the real handler in
//! `server/channels/api4` so that a request with several faults fails the way the real server
//! fails it.

use std::cmp::Reverse;

use serde_json::{Map, Value, json};

use super::errors::AppErr;
use super::model::{Post, channel_json, empty_props, is_valid_id, new_id, user_json};
use super::state::State;
use super::world::{Channel, dm_name};

/// What the fake claims to be, in `X-Version-Id` and the client config.
const VERSION: &str = "10.11.0";

/// `PerPageDefault` / `PerPageMaximum` in `web/params.go`.
const PER_PAGE_DEFAULT: usize = 60;
const PER_PAGE_MAX: usize = 200;

/// The `since=` query reads at most this many changed rows.
const SINCE_LIMIT: usize = 1000;

/// Props only the server may set: `SanitizeProps` drops them from what a client sends.
const SERVER_ONLY_PROPS: [&str; 2] = ["add_channel_member", "force_notification"];

/// Props that record who made a post; updates carry them over from the stored post
/// (`PreserveIdentityPropsFrom`), so a full PUT cannot strip `from_bot`.
const IDENTITY_PROPS: [&str; 4] = ["from_bot", "from_webhook", "from_oauth_app", "from_plugin"];

pub(crate) struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub authorization: Option<&'a str>,
    pub body: &'a [u8],
}

pub(crate) struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, value: &Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    pub fn error(err: &AppErr, request_id: &str) -> Reply {
        Reply::json(err.status, &err.body(request_id))
    }
}

pub(crate) fn version_header() -> String {
    format!("{VERSION}.{VERSION}.fake.false")
}

enum Route {
    Ping,
    ClientConfig,
    GetUser(String),
    CreatePost,
    GetPost(String),
    UpdatePost(String),
    PatchPost(String),
    DeletePost(String),
    ChannelPosts(String),
    GetChannel(String),
    CreateDirect,
    NotFound,
}

impl Route {
    /// `APISessionRequired` vs `APIHandler`: the 404 catch-all and the public endpoints answer
    /// without a session, so a bad token is only a 401 where a session is needed.
    fn needs_session(&self) -> bool {
        !matches!(self, Route::Ping | Route::ClientConfig | Route::NotFound)
    }
}

/// gorilla/mux patterns like `{post_id:[A-Za-z0-9]+}`: anything else falls to the 404 route.
fn id_segment(s: &str) -> Option<String> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric())).then(|| s.to_owned())
}

fn route(method: &str, path: &str) -> Route {
    let Some(rest) = path.strip_prefix("/api/v4/") else {
        return Route::NotFound;
    };
    let segs: Vec<&str> = rest.split('/').collect();
    match (method, segs.as_slice()) {
        ("GET", ["system", "ping"]) => Route::Ping,
        ("GET", ["config", "client"]) => Route::ClientConfig,
        ("GET", ["users", id]) => id_segment(id).map_or(Route::NotFound, Route::GetUser),
        ("POST", ["posts"]) => Route::CreatePost,
        ("GET", ["posts", id]) => id_segment(id).map_or(Route::NotFound, Route::GetPost),
        ("PUT", ["posts", id]) => id_segment(id).map_or(Route::NotFound, Route::UpdatePost),
        ("DELETE", ["posts", id]) => id_segment(id).map_or(Route::NotFound, Route::DeletePost),
        ("PUT", ["posts", id, "patch"]) => id_segment(id).map_or(Route::NotFound, Route::PatchPost),
        ("POST", ["channels", "direct"]) => Route::CreateDirect,
        ("GET", ["channels", id]) => id_segment(id).map_or(Route::NotFound, Route::GetChannel),
        ("GET", ["channels", id, "posts"]) => {
            id_segment(id).map_or(Route::NotFound, Route::ChannelPosts)
        }
        _ => Route::NotFound,
    }
}

/// Query parameters the way Go's `url.Values.Get` reads them: first value, `""` when absent.
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: &str) -> Query {
        Query(
            raw.split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }
}

pub(crate) fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `ParseAuthTokenFromRequest`: the header first (`Bearer` or `Token`, any case), then the
/// `access_token` query parameter.
fn auth_token(req: &Request, query: &Query) -> Option<(String, bool)> {
    if let Some(h) = req.authorization {
        if h.len() > 6 && h.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("bearer")) {
            return Some((h.get(7..).unwrap_or("").to_owned(), false));
        }
        if h.len() > 5 && h.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("token")) {
            return Some((h.get(6..).unwrap_or("").to_owned(), false));
        }
    }
    let q = query.get("access_token");
    (!q.is_empty()).then(|| (q.to_owned(), true))
}

/// Answers one request that got past the fault injector; also returns the session's user.
pub(crate) fn handle(st: &mut State, req: &Request, request_id: &str) -> (Reply, Option<String>) {
    let query = Query::parse(req.query);
    let route = route(req.method, req.path);
    let mut session: Option<String> = None;
    if let Some((token, from_query)) = auth_token(req, &query) {
        match st.world.user_for_token(&token) {
            // A bot or personal token in a URL ends up in proxy logs; the server refuses it.
            Some(_) if from_query => {
                let err = AppErr::new(401, "api.context.token_provided.app_error");
                return (Reply::error(&err, request_id), None);
            }
            Some(user) => session = Some(user.to_owned()),
            None if route.needs_session() => {
                return (Reply::error(&AppErr::session_expired(), request_id), None);
            }
            None => {}
        }
    }
    let result = match (&route, &session) {
        (Route::Ping, _) => Ok(ping()),
        (Route::ClientConfig, _) => client_config(st, session.is_some(), &query),
        (Route::NotFound, _) => Err(AppErr::not_found()),
        (_, None) => Err(AppErr::session_expired()),
        (Route::GetUser(id), Some(uid)) => get_user(st, uid, id),
        (Route::CreatePost, Some(uid)) => create_post(st, uid, req.body),
        (Route::GetPost(id), Some(uid)) => get_post(st, uid, id, &query),
        (Route::UpdatePost(id), Some(uid)) => update_post(st, uid, id, req.body),
        (Route::PatchPost(id), Some(uid)) => patch_post(st, uid, id, req.body),
        (Route::DeletePost(id), Some(uid)) => delete_post(st, uid, id),
        (Route::ChannelPosts(id), Some(uid)) => channel_posts(st, uid, id, &query),
        (Route::GetChannel(id), Some(uid)) => get_channel(st, uid, id),
        (Route::CreateDirect, Some(uid)) => create_direct(st, uid, req.body),
    };
    let mut reply = result.unwrap_or_else(|err| Reply::error(&err, request_id));
    if req.method == "GET" {
        reply.headers.push(("Expires", "0".to_owned()));
    }
    (reply, session)
}

fn ping() -> Reply {
    Reply::json(
        200,
        &json!({
            "ActiveSearchBackend": "database",
            "AndroidLatestVersion": "",
            "AndroidMinVersion": "",
            "IosLatestVersion": "",
            "IosMinVersion": "",
            "status": "OK",
        }),
    )
}

/// `getClientConfig`: `format=old` is mandatory; `MaxPostSize` (a string, in runes) is only in
/// the config of a logged-in session (`ClientConfigWithComputed`), not in the limited one.
fn client_config(st: &State, logged_in: bool, query: &Query) -> Result<Reply, AppErr> {
    match query.get("format") {
        "" => return Err(AppErr::new(501, "api.config.client.old_format.app_error")),
        "old" => {}
        _ => return Err(AppErr::invalid_body_param("format")),
    }
    let mut cfg = json!({
        "Version": VERSION,
        "BuildNumber": VERSION,
        "SiteName": "Mattermost",
        "SiteURL": "",
        "NoAccounts": "false",
        "EnableSignUpWithEmail": "false",
    });
    if logged_in {
        let obj = cfg.as_object_mut().expect("object");
        obj.insert(
            "MaxPostSize".into(),
            json!(st.world.max_post_runes.to_string()),
        );
        obj.insert("PostEditTimeLimit".into(), json!("-1"));
        obj.insert(
            "InstallationDate".into(),
            json!(super::world::WORLD_CREATED_AT.to_string()),
        );
        obj.insert("ExperimentalEnablePostMetadata".into(), json!("true"));
        obj.insert("CollapsedThreads".into(), json!("always_on"));
    }
    Ok(Reply::json(200, &cfg))
}

fn get_user(st: &State, uid: &str, id: &str) -> Result<Reply, AppErr> {
    let id = if id == "me" { uid } else { id };
    if !is_valid_id(id) {
        return Err(AppErr::invalid_url_param("user_id"));
    }
    let user = st
        .user(id)
        .ok_or_else(|| AppErr::new(404, "app.user.missing_account.const"))?;
    Ok(Reply::json(200, &user_json(user)))
}

/// The fields of a `model.Post` body. Go's decoder treats `null` as "leave it zero" and rejects
/// a value of the wrong type, which turns into a 400 for the whole body.
#[derive(Default)]
struct PostBody {
    id: String,
    channel_id: String,
    root_id: String,
    message: String,
    type_: String,
    props: Option<Map<String, Value>>,
    file_ids: Option<Vec<String>>,
    pending_post_id: String,
    is_pinned: bool,
    has_reactions: bool,
}

fn str_field(obj: &Map<String, Value>, key: &str) -> Result<String, ()> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(()),
    }
}

fn bool_field(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, ()> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(()),
    }
}

fn props_field(obj: &Map<String, Value>) -> Result<Option<Map<String, Value>>, ()> {
    match obj.get("props") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m.clone())),
        Some(_) => Err(()),
    }
}

fn file_ids_field(obj: &Map<String, Value>) -> Result<Option<Vec<String>>, ()> {
    match obj.get("file_ids") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or(()))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(()),
    }
}

fn parse_object(body: &[u8]) -> Result<Option<Map<String, Value>>, ()> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(Some(m)),
        Ok(Value::Null) => Ok(None),
        _ => Err(()),
    }
}

impl PostBody {
    fn decode(body: &[u8]) -> Result<PostBody, ()> {
        let Some(obj) = parse_object(body)? else {
            return Ok(PostBody::default());
        };
        let number_ok = |k: &str| matches!(obj.get(k), None | Some(Value::Null | Value::Number(_)));
        if !["create_at", "update_at", "edit_at", "delete_at"]
            .iter()
            .all(|k| number_ok(k))
        {
            return Err(());
        }
        Ok(PostBody {
            id: str_field(&obj, "id")?,
            channel_id: str_field(&obj, "channel_id")?,
            root_id: str_field(&obj, "root_id")?,
            message: str_field(&obj, "message")?,
            type_: str_field(&obj, "type")?,
            props: props_field(&obj)?,
            file_ids: file_ids_field(&obj)?,
            pending_post_id: str_field(&obj, "pending_post_id")?,
            is_pinned: bool_field(&obj, "is_pinned")?.unwrap_or(false),
            has_reactions: bool_field(&obj, "has_reactions")?.unwrap_or(false),
        })
    }
}

/// `model.PostPatch`: every field optional; only the ones present change.
#[derive(Default)]
struct PatchBody {
    message: Option<String>,
    props: Option<Map<String, Value>>,
    is_pinned: Option<bool>,
    has_reactions: Option<bool>,
}

impl PatchBody {
    fn decode(body: &[u8]) -> Result<PatchBody, ()> {
        let Some(obj) = parse_object(body)? else {
            return Ok(PatchBody::default());
        };
        file_ids_field(&obj)?;
        let message = match obj.get("message") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(()),
        };
        Ok(PatchBody {
            message,
            props: props_field(&obj)?,
            is_pinned: bool_field(&obj, "is_pinned")?,
            has_reactions: bool_field(&obj, "has_reactions")?,
        })
    }
}

fn sanitize_props(mut props: Map<String, Value>) -> Map<String, Value> {
    for key in SERVER_ONLY_PROPS {
        props.remove(key);
    }
    props
}

fn preserve_identity_props(new: &mut Map<String, Value>, old: &Value) {
    for key in IDENTITY_PROPS {
        match old.get(key) {
            Some(v) if !v.is_null() => {
                new.insert(key.to_owned(), v.clone());
            }
            _ => {}
        }
    }
}

fn post_reply(st: &State, status: u16, post: &Post, pending_post_id: &str) -> Reply {
    Reply::json(
        status,
        &post.to_client_json(st.reply_count(post), pending_post_id, true),
    )
}

/// `createPost` → `createPostChecks` → `CreatePostAsUser` → `CreatePost` → `Store.Save`.
fn create_post(st: &mut State, uid: &str, body: &[u8]) -> Result<Reply, AppErr> {
    let input = PostBody::decode(body).map_err(|()| AppErr::invalid_body_param("post"))?;
    // Permission comes before any existence check: an unknown channel is a 403, not a 404.
    let channel = st.channel(&input.channel_id).cloned();
    let Some(channel) = channel.filter(|c| st.can_write(uid, c)) else {
        return Err(AppErr::permission());
    };
    if input.type_.starts_with("system_") {
        return Err(AppErr::named(
            400,
            "api.context.invalid_param.app_error",
            "post.type",
        ));
    }
    let duplicate = (!input.pending_post_id.is_empty())
        .then(|| st.deduplicated(&input.pending_post_id, uid))
        .flatten();
    if let Some(existing) = duplicate {
        // The deduplicated answer comes straight from the store: no metadata, no echo.
        let v = existing.to_client_json(st.reply_count(&existing), "", false);
        return Ok(Reply::json(201, &v));
    }
    if !input.root_id.is_empty() {
        let root = st.live_post(&input.root_id);
        match root {
            None => return Err(AppErr::new(400, "api.post.create_post.root_id.app_error")),
            // CreatePost raises this one as a 500; CreatePostAsUser rewrites it to 400.
            Some(r) if r.channel_id != channel.id => {
                return Err(AppErr::new(
                    400,
                    "api.post.create_post.channel_root_id.app_error",
                ));
            }
            Some(r) if !r.root_id.is_empty() => {
                return Err(AppErr::new(400, "api.post.create_post.root_id.app_error"));
            }
            Some(_) => {}
        }
    }
    let mut props = sanitize_props(input.props.unwrap_or_default());
    if st.user(uid).is_some_and(|u| u.is_bot) {
        props.insert("from_bot".into(), Value::String("true".into()));
    }
    if !input.id.is_empty() {
        return Err(AppErr::new(400, "app.post.save.existing.app_error"));
    }
    let now = st.clock.now();
    let mut post = Post {
        id: new_id(),
        channel_id: channel.id.clone(),
        root_id: input.root_id,
        user_id: uid.to_owned(),
        message: input.message,
        props: Value::Object(props),
        create_at: now,
        update_at: now,
        edit_at: 0,
        delete_at: 0,
        type_: input.type_,
        is_pinned: input.is_pinned,
        has_reactions: false,
        file_ids: input.file_ids.unwrap_or_default(),
        hashtags: String::new(),
        original_id: String::new(),
    };
    st.validate(&post)?;
    // No file store: ids that cannot be attached are dropped, as attachFilesToPost does.
    post.file_ids.clear();
    let post = st.insert(post);
    st.remember_pending(&input.pending_post_id, &post.id);
    Ok(post_reply(st, 201, &post, &input.pending_post_id))
}

fn get_post(st: &State, uid: &str, id: &str, query: &Query) -> Result<Reply, AppErr> {
    if !is_valid_id(id) {
        return Err(AppErr::invalid_url_param("post_id"));
    }
    if parse_bool(query.get("include_deleted")) {
        return Err(AppErr::permission());
    }
    let post = st
        .live_post(id)
        .ok_or_else(|| AppErr::new(404, "app.post.get.app_error"))?;
    let channel = st
        .channel(&post.channel_id)
        .ok_or_else(AppErr::permission)?;
    if !st.can_read(uid, channel) {
        return Err(AppErr::permission());
    }
    Ok(post_reply(st, 200, post, ""))
}

/// Both edit endpoints answer 403, not 404, for a post that does not exist: the handlers turn a
/// failed `GetSinglePost` into a permission error.
fn editable(st: &State, uid: &str, id: &str) -> Result<Post, AppErr> {
    let old = st.live_post(id).cloned().ok_or_else(AppErr::permission)?;
    let channel = st.channel(&old.channel_id).ok_or_else(AppErr::permission)?;
    let admin = st
        .user(uid)
        .is_some_and(|u| u.roles.split_whitespace().any(|r| r == "system_admin"));
    if !st.can_write(uid, channel) || (old.user_id != uid && !admin) {
        // Another author's post needs edit_others_posts, which no default role below
        // team admin grants (system_admin has it).
        return Err(AppErr::permission());
    }
    Ok(old)
}

/// `UpdatePost` with `SafeUpdate: false`, shared by PUT and PATCH: props become exactly what
/// was received (plus the identity props of the stored post); `edit_at` moves only when the
/// message or the attachments change.
fn apply_update(
    st: &mut State,
    old: &Post,
    message: String,
    props: Map<String, Value>,
    is_pinned: bool,
    has_reactions: bool,
) -> Result<Post, AppErr> {
    let mut props = sanitize_props(props);
    preserve_identity_props(&mut props, &old.props);
    let mut new = old.clone();
    let edited = new.message != message || old.props.get("attachments") != props.get("attachments");
    new.message = message;
    new.props = Value::Object(props);
    new.is_pinned = is_pinned;
    new.has_reactions = has_reactions;
    st.update(old, new, edited)
}

/// `PUT /posts/{id}`: a full replacement. A field left out is reset (`message` to `""`,
/// `props` to `{}`), which is why clients must edit through `/patch`.
fn update_post(st: &mut State, uid: &str, id: &str, body: &[u8]) -> Result<Reply, AppErr> {
    if !is_valid_id(id) {
        return Err(AppErr::invalid_url_param("post_id"));
    }
    let input = PostBody::decode(body).map_err(|()| AppErr::invalid_body_param("post"))?;
    if input.id != id {
        return Err(AppErr::invalid_body_param("id"));
    }
    let old = editable(st, uid, id)?;
    let new = apply_update(
        st,
        &old,
        input.message,
        input.props.unwrap_or_default(),
        input.is_pinned,
        input.has_reactions,
    )?;
    Ok(post_reply(st, 200, &new, ""))
}

/// `PUT /posts/{id}/patch`: only the fields sent change; `props`, when sent, replaces the whole
/// map (there is no per-key merge).
fn patch_post(st: &mut State, uid: &str, id: &str, body: &[u8]) -> Result<Reply, AppErr> {
    if !is_valid_id(id) {
        return Err(AppErr::invalid_url_param("post_id"));
    }
    let patch = PatchBody::decode(body).map_err(|()| AppErr::invalid_body_param("post"))?;
    let old = editable(st, uid, id)?;
    let props = match patch.props {
        Some(p) => p,
        None => old.props.as_object().cloned().unwrap_or_default(),
    };
    let new = apply_update(
        st,
        &old,
        patch.message.unwrap_or_else(|| old.message.clone()),
        props,
        patch.is_pinned.unwrap_or(old.is_pinned),
        patch.has_reactions.unwrap_or(old.has_reactions),
    )?;
    Ok(post_reply(st, 200, &new, ""))
}

fn delete_post(st: &mut State, uid: &str, id: &str) -> Result<Reply, AppErr> {
    if !is_valid_id(id) {
        return Err(AppErr::invalid_url_param("post_id"));
    }
    let post = st
        .live_post(id)
        .cloned()
        .ok_or_else(|| AppErr::new(404, "app.post.get.app_error"))?;
    let channel = st
        .channel(&post.channel_id)
        .ok_or_else(AppErr::permission)?;
    if !st.can_write(uid, channel) || post.user_id != uid {
        return Err(AppErr::permission());
    }
    st.delete(id, uid);
    Ok(Reply::json(200, &json!({"status": "OK"})))
}

fn get_channel(st: &State, uid: &str, id: &str) -> Result<Reply, AppErr> {
    if !is_valid_id(id) {
        return Err(AppErr::invalid_url_param("channel_id"));
    }
    let channel = st
        .channel(id)
        .ok_or_else(|| AppErr::new(404, "app.channel.get.existing.app_error"))?;
    if !st.can_read(uid, channel) {
        return Err(AppErr::permission());
    }
    Ok(Reply::json(200, &channel_json(channel, &st.stats(id))))
}

/// `strconv.ParseBool`.
fn parse_bool(s: &str) -> bool {
    matches!(s, "1" | "t" | "T" | "TRUE" | "true" | "True")
}

/// `web.ParamsFromRequest`: bad or negative values fall back to the default, and `per_page`
/// is silently capped.
fn page_params(query: &Query) -> (usize, usize) {
    let page = query.get("page").parse::<i64>().ok().filter(|v| *v >= 0);
    let per_page = query
        .get("per_page")
        .parse::<i64>()
        .ok()
        .filter(|v| *v >= 0);
    let page = page.map_or(0, |v| usize::try_from(v).unwrap_or(usize::MAX));
    let per_page = per_page.map_or(PER_PAGE_DEFAULT, |v| {
        usize::try_from(v).unwrap_or(usize::MAX).min(PER_PAGE_MAX)
    });
    (page, per_page)
}

/// `GET /channels/{id}/posts`. Precedence as in `getPostsForChannel`: `since` (changes by
/// `update_at`, deleted rows and edit-history rows included, no cursors), then `after`, then
/// `before`, then a plain page, newest first.
fn channel_posts<'a>(st: &'a State, uid: &str, id: &str, query: &Query) -> Result<Reply, AppErr> {
    if !is_valid_id(id) {
        return Err(AppErr::invalid_url_param("channel_id"));
    }
    let after = query.get("after");
    if !after.is_empty() && !is_valid_id(after) {
        return Err(AppErr::invalid_body_param("after"));
    }
    let before = query.get("before");
    if !before.is_empty() && !is_valid_id(before) {
        return Err(AppErr::invalid_body_param("before"));
    }
    let since = match query.get("since") {
        "" => 0,
        s => s
            .parse::<i64>()
            .map_err(|_| AppErr::invalid_body_param("since"))?,
    };
    let skip_threads = parse_bool(query.get("skipFetchThreads"));
    if parse_bool(query.get("include_deleted")) {
        return Err(AppErr::permission());
    }
    let (page, per_page) = page_params(query);
    let channel = st
        .channel(id)
        .ok_or_else(|| AppErr::new(404, "app.channel.get.existing.app_error"))?;
    if !st.can_read(uid, channel) {
        return Err(AppErr::permission());
    }

    if since > 0 {
        let mut changed: Vec<&Post> = st
            .posts
            .iter()
            .chain(st.history.iter())
            .filter(|p| p.channel_id == id && p.update_at > since)
            .take(SINCE_LIMIT)
            .collect();
        changed.sort_by_key(|p| Reverse(p.create_at));
        let roots: Vec<&Post> = changed
            .iter()
            .filter(|p| !p.root_id.is_empty())
            .filter_map(|p| st.post(&p.root_id))
            .collect();
        return Ok(post_list(st, &changed, &roots, "", ""));
    }

    let live: Vec<&Post> = st
        .posts
        .iter()
        .filter(|p| p.channel_id == id && p.delete_at == 0)
        .collect();
    let offset = page.saturating_mul(per_page);
    // The anchor is looked up with no DeleteAt filter: a deleted post still works as a cursor,
    // an unknown one gives an empty page.
    let anchor_time = |anchor_id: &str| {
        st.post(anchor_id)
            .or_else(|| st.history.iter().find(|p| p.id == anchor_id))
            .map(|p| p.create_at)
    };
    let window =
        |v: Vec<&'a Post>| -> Vec<&'a Post> { v.into_iter().skip(offset).take(per_page).collect() };
    // AddCursorIdsForPostList decides some cursors from the request alone (`Some`); the rest
    // are looked up from the neighbours of the newest and oldest post on the page.
    let mut next: Option<String> = None;
    let mut prev: Option<String> = None;
    let mut order: Vec<&Post> = if !after.is_empty() {
        let mut v: Vec<&Post> = match anchor_time(after) {
            Some(t) => live.iter().copied().filter(|p| p.create_at > t).collect(),
            None => Vec::new(),
        };
        v.sort_by_key(|p| p.create_at);
        let v = window(v);
        if page == 0 {
            prev = Some(after.to_owned());
        }
        if v.len() < per_page {
            next = Some(String::new());
        }
        v
    } else if !before.is_empty() {
        let mut v: Vec<&Post> = match anchor_time(before) {
            Some(t) => live.iter().copied().filter(|p| p.create_at < t).collect(),
            None => Vec::new(),
        };
        v.sort_by_key(|p| Reverse(p.create_at));
        let v = window(v);
        if page == 0 {
            next = Some(before.to_owned());
        }
        if v.len() < per_page {
            prev = Some(String::new());
        }
        v
    } else {
        let mut v = live.clone();
        v.sort_by_key(|p| Reverse(p.create_at));
        window(v)
    };
    order.sort_by_key(|p| Reverse(p.create_at));
    let next = next.unwrap_or_else(|| {
        order.first().map_or(String::new(), |first| {
            live.iter()
                .filter(|p| p.create_at > first.create_at)
                .min_by_key(|p| p.create_at)
                .map_or(String::new(), |p| p.id.clone())
        })
    });
    let prev = prev.unwrap_or_else(|| {
        order.last().map_or(String::new(), |last| {
            live.iter()
                .filter(|p| p.create_at < last.create_at)
                .max_by_key(|p| p.create_at)
                .map_or(String::new(), |p| p.id.clone())
        })
    });
    // Replies bring their threads along (just the roots with skipFetchThreads).
    let mut threads: Vec<&Post> = Vec::new();
    for p in order.iter().filter(|p| !p.root_id.is_empty()) {
        for q in &live {
            let in_thread = q.id == p.root_id || (!skip_threads && q.root_id == p.root_id);
            if in_thread {
                threads.push(q);
            }
        }
    }
    Ok(post_list(st, &order, &threads, &next, &prev))
}

fn post_list(st: &State, order: &[&Post], extra: &[&Post], next: &str, prev: &str) -> Reply {
    let mut posts = Map::new();
    for p in order.iter().chain(extra.iter()) {
        posts.insert(p.id.clone(), p.to_client_json(st.reply_count(p), "", true));
    }
    let order: Vec<&str> = order.iter().map(|p| p.id.as_str()).collect();
    Reply::json(
        200,
        &json!({
            "order": order,
            "posts": posts,
            "next_post_id": next,
            "prev_post_id": prev,
            "first_inaccessible_post_time": 0,
        }),
    )
}

/// `createDirectChannel`: a JSON array of two user ids, one of them the caller's (or just the
/// caller's, for a self-DM). Always 201, whether the channel was made now or long ago.
fn create_direct(st: &mut State, uid: &str, body: &[u8]) -> Result<Reply, AppErr> {
    let ids: Vec<String> = serde_json::from_slice::<Option<Vec<String>>>(body)
        .map_err(|_| AppErr::new(400, "api.payload.parse.error"))?
        .unwrap_or_default();
    // NonSortedArrayFromJSON drops duplicates, keeping the first.
    let mut unique: Vec<String> = Vec::new();
    for id in ids {
        if !unique.contains(&id) {
            unique.push(id);
        }
    }
    if unique.len() == 1 && unique[0] == uid {
        unique.push(uid.to_owned());
    }
    if unique.len() != 2 {
        return Err(AppErr::invalid_body_param("user_ids"));
    }
    if unique.iter().any(|id| !is_valid_id(id)) {
        return Err(AppErr::invalid_body_param("user_id"));
    }
    if !unique.iter().any(|id| id == uid) {
        // Opening someone else's DM needs manage_system.
        return Err(AppErr::permission());
    }
    let name = dm_name(&unique[0], &unique[1]);
    if let Some(existing) = st
        .world
        .channels
        .iter()
        .find(|c| c.type_ == "D" && c.name == name)
    {
        return Ok(Reply::json(
            201,
            &channel_json(existing, &st.stats(&existing.id)),
        ));
    }
    if unique.iter().any(|id| st.user(id).is_none()) {
        return Err(AppErr::new(
            400,
            "api.channel.create_direct_channel.invalid_user.app_error",
        ));
    }
    let mut channel = Channel::direct(&new_id(), &unique[0], &unique[1]);
    channel.create_at = st.clock.now();
    let v = channel_json(&channel, &st.stats(&channel.id));
    st.world.channels.push(channel);
    Ok(Reply::json(201, &v))
}

/// Seeds a post as if `user_id` had written it in the web app (used for humans' posts).
pub(crate) fn inject(
    st: &mut State,
    id: Option<&str>,
    channel_id: &str,
    user_id: &str,
    message: &str,
    root_id: &str,
) -> Post {
    let now = st.clock.now();
    let props = if st.user(user_id).is_some_and(|u| u.is_bot) {
        json!({"from_bot": "true"})
    } else {
        empty_props()
    };
    st.insert(Post {
        id: id.map(str::to_owned).unwrap_or_else(new_id),
        channel_id: channel_id.to_owned(),
        root_id: root_id.to_owned(),
        user_id: user_id.to_owned(),
        message: message.to_owned(),
        props,
        create_at: now,
        update_at: now,
        edit_at: 0,
        delete_at: 0,
        type_: String::new(),
        is_pinned: false,
        has_reactions: false,
        file_ids: Vec::new(),
        hashtags: String::new(),
        original_id: String::new(),
    })
}
