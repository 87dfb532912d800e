#!/usr/bin/env python3
"""A fake Mattermost (REST /api/v4 + WebSocket) on loopback that the real OpenClaw gateways'
Mattermost plugin and `openclaw-livestatus run` talk to during `make compat`.

It serves the fixed world of mm_world.py (two teams, a bot each, alice) and logs every request to
a JSONL file, tagged with who made it: `"from": "livestatus"` when the User-Agent is
`openclaw-livestatus/<version>` (the daemon's), else `"gateway"`; `"user"` is the username the
token belongs to.

Like the real server it checks what the daemon depends on being checked, so that a box posted
with the wrong account fails here as it would in production:
- every /api/v4 request but GET /system/ping needs a known token (`Authorization: Bearer|Token`),
  else 401 `api.context.session_expired.app_error`;
- a user reads and posts only in channels it may (a member, or any open channel of its team),
  edits and deletes only its own posts, types and reacts only as itself, opens only its own DMs:
  else 403 `api.context.permissions.app_error`; a reply's root_id must be a root post of the same
  channel, else 400;
- a WebSocket is told nothing until it is authenticated (the plugin sends an
  `authentication_challenge` with its token; a bad token closes the socket), then `hello`, and
  then only the events of channels its user is a member of.

What OpenClaw needs (from the fixture recordings, ../../../shared/fixtures/README.md):
- GET /users/me is the plugin's health check every 30 s: its update_at must never change, or
  the plugin reconnects the WebSocket.
- `posted` (with `data.post` a JSON *string*) for every post, the bot's own included, like a
  real server; OpenClaw ignores its own posts. channel_type (O or D) decides channel vs DM.
What the daemon needs: POST /posts with props, PUT /posts/{id}/patch (message only, props kept),
GET /channels/{id}/posts?since=, POST /channels/direct, GET /system/ping, GET /users/me.

Control API for the driver (not Mattermost): POST /_control/inject {"channel_id","message",
"root_id"?} posts as alice and broadcasts it; GET /_control/state returns every post and user.
usage: fake_mattermost.py PORT LOGFILE
"""
import asyncio
import json
import random
import string
import sys
import time

from aiohttp import WSMsgType, web

from mm_world import ALICE, CHANNEL_MEMBERS, CHANNELS, TEAM_MEMBERS, TEAMS, TOKENS, USERS, channel, dm_name

POSTS = {}
SOCKETS = {}  # WebSocketResponse -> user id once authenticated, else None
SEQ = [0]
LOG = None


def now_ms():
    return int(time.time() * 1000)


def new_id():
    return "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(26))


def log(entry):
    entry = {"t_ms": now_ms(), **entry}
    LOG.write(json.dumps(entry) + "\n")
    LOG.flush()


def app_error(status, err_id, message):
    return {"id": err_id, "message": message, "detailed_error": "", "request_id": new_id(),
            "status_code": status}, status


def not_found(what):
    return app_error(404, "api.context.404.app_error", what + " not found")


def forbidden():
    return app_error(403, "api.context.permissions.app_error", "You do not have the appropriate permissions.")


def unauthorized():
    return app_error(401, "api.context.session_expired.app_error", "Invalid or expired session, please login again.")


def bad_param(name):
    return app_error(400, "api.context.invalid_body_param.app_error", "Invalid or missing %s in request body." % name)


def may_access(uid, ch):
    """Read or post: a member, or anyone of the team in an open channel (Mattermost's
    read_public_channel / create_post_public of the team_user role)."""
    return uid in CHANNEL_MEMBERS.get(ch["id"], ()) or (
        ch["type"] == "O" and uid in TEAM_MEMBERS.get(ch["team_id"], ()))


def broadcast(event, data, channel_id):
    """To the channel's members' sockets only, as the real server's hub does."""
    frame = {"event": event, "data": data, "seq": SEQ[0],
             "broadcast": {"omit_users": None, "user_id": "", "channel_id": channel_id,
                           "team_id": CHANNELS.get(channel_id, {}).get("team_id", "")}}
    SEQ[0] += 1
    raw = json.dumps(frame)
    members = CHANNEL_MEMBERS.get(channel_id, set())
    for ws, uid in list(SOCKETS.items()):
        if uid in members:
            asyncio.ensure_future(ws.send_str(raw))


def make_post(channel_id, user_id, message, root_id="", props=None):
    t = now_ms()
    p = {"id": new_id(), "create_at": t, "update_at": t, "edit_at": 0, "delete_at": 0,
         "user_id": user_id, "channel_id": channel_id, "root_id": root_id or "", "original_id": "",
         "message": message, "type": "", "props": props or {}, "hashtags": "",
         "pending_post_id": "", "reply_count": 0, "file_ids": [], "metadata": {}}
    POSTS[p["id"]] = p
    ch = CHANNELS[channel_id]
    data = {"channel_display_name": ch["display_name"], "channel_name": ch["name"],
            "channel_type": ch["type"], "post": json.dumps(p), "sender_name": "@" + USERS[user_id]["username"],
            "set_online": True, "team_id": ch["team_id"]}
    if ch["type"] == "D":
        data["mentions"] = json.dumps(sorted(CHANNEL_MEMBERS[channel_id] - {user_id}))
    broadcast("posted", data, channel_id)
    return p


def create_post(uid, b):
    ch = CHANNELS.get(b.get("channel_id") or "")
    if not b.get("channel_id"):
        return bad_param("channel_id")
    if ch is None or not may_access(uid, ch):
        return forbidden()
    root_id = b.get("root_id") or ""
    if root_id:
        root = POSTS.get(root_id)
        if root is None or root["channel_id"] != ch["id"] or root["root_id"] or root["delete_at"]:
            return app_error(400, "api.post.create_post.root_id.app_error", "Invalid RootId parameter.")
    return make_post(ch["id"], uid, b.get("message", ""), root_id, b.get("props")), 201


def direct_channel(uid, ids):
    if not isinstance(ids, list) or len(ids) != 2 or not all(i in USERS for i in ids):
        return bad_param("user_ids")
    if uid not in ids:
        return forbidden()
    name = dm_name(*ids)
    ch = next((c for c in CHANNELS.values() if c["name"] == name), None)
    if ch is None:  # a real server creates it on first use
        ch = channel(new_id(), "D", name, "", "", uid)
        CHANNELS[ch["id"]], CHANNEL_MEMBERS[ch["id"]] = ch, set(ids)
    return ch, 201


def route(uid, method, seg, body, query):
    if seg[:1] == ["users"] and len(seg) >= 2:
        target = uid if seg[1] == "me" else seg[1]
        if method == "GET" and len(seg) == 2:
            return (USERS[target], 200) if target in USERS else not_found("user")
        if method == "POST" and seg[1] == "ids" and len(seg) == 2:
            return [USERS[i] for i in (body or []) if i in USERS], 200
        if method == "GET" and seg[1] == "username" and len(seg) == 3:
            u = next((u for u in USERS.values() if u["username"] == seg[2]), None)
            return (u, 200) if u else not_found("user")
        if target != uid:  # another user's teams, channels, typing: manage_system only
            return forbidden()
        if method == "POST" and seg[2:] == ["typing"]:
            ch = CHANNELS.get((body or {}).get("channel_id") or "")
            if ch is None or not may_access(uid, ch):
                return forbidden()
            return {"status": "OK"}, 200
        if method == "GET" and seg[2:] == ["teams"]:
            return [t for tid, t in TEAMS.items() if uid in TEAM_MEMBERS[tid]], 200
        if method == "GET" and (seg[2:] == ["channels"] or len(seg) == 5 and seg[2] == "teams" and seg[4] == "channels"):
            team_id = seg[3] if len(seg) == 5 else None
            if team_id is not None and uid not in TEAM_MEMBERS.get(team_id, ()):
                return forbidden()
            return [c for c in CHANNELS.values() if uid in CHANNEL_MEMBERS[c["id"]]
                    and (team_id is None or c["team_id"] in (team_id, ""))], 200
    if seg[:1] == ["teams"] and method == "GET" and len(seg) >= 2:
        if seg[1] not in TEAMS:
            return not_found("team")
        if uid not in TEAM_MEMBERS[seg[1]]:
            return forbidden()
        if len(seg) == 2:
            return TEAMS[seg[1]], 200
        if len(seg) == 5 and seg[2:4] == ["channels", "name"]:
            c = next((c for c in CHANNELS.values() if c["team_id"] == seg[1] and c["name"] == seg[4]), None)
            if c is None:
                return not_found("channel")
            return (c, 200) if may_access(uid, c) else forbidden()
    if seg[:1] == ["channels"]:
        if method == "POST" and seg == ["channels", "direct"]:
            return direct_channel(uid, body)
        if method == "GET" and len(seg) in (2, 3):
            ch = CHANNELS.get(seg[1])
            if ch is None:
                return not_found("channel")
            if not may_access(uid, ch):
                return forbidden()
            if len(seg) == 2:
                return ch, 200
            if seg[2] == "posts":
                since = int(query.get("since", "0") or 0)
                ps = sorted((p for p in POSTS.values() if p["channel_id"] == ch["id"]
                             and max(p["create_at"], p["update_at"]) >= since), key=lambda p: -p["create_at"])
                return {"order": [p["id"] for p in ps], "posts": {p["id"]: p for p in ps},
                        "next_post_id": "", "prev_post_id": ""}, 200
    if seg[:1] == ["posts"]:
        if method == "POST" and len(seg) == 1:
            return create_post(uid, body if isinstance(body, dict) else {})
        p = POSTS.get(seg[1]) if len(seg) >= 2 else None
        if p is None:
            return not_found("post")
        if not may_access(uid, CHANNELS[p["channel_id"]]):
            return forbidden()
        if method == "GET" and len(seg) == 2:
            return p, 200
        if method == "GET" and seg[2:] == ["thread"]:
            root = p["root_id"] or p["id"]
            ps = [q for q in POSTS.values() if root in (q["id"], q["root_id"])]
            return {"order": [q["id"] for q in ps], "posts": {q["id"]: q for q in ps}}, 200
        if method == "PUT" and (len(seg) == 2 or seg[2:] == ["patch"]):
            if p["user_id"] != uid:  # edit_others_posts: not a team_user's permission
                return forbidden()
            b = body if isinstance(body, dict) else {}
            if "message" in b:
                p["message"] = b["message"]
            if len(seg) == 2 or b.get("props") is not None:
                # a plain PUT replaces the props, as the real server does
                p["props"] = b.get("props") or {}
            p["edit_at"] = p["update_at"] = now_ms()
            broadcast("post_edited", {"post": json.dumps(p)}, p["channel_id"])
            return p, 200
        if method == "DELETE" and len(seg) == 2:
            if p["user_id"] != uid:
                return forbidden()
            p["delete_at"] = now_ms()
            broadcast("post_deleted", {"post": json.dumps(p)}, p["channel_id"])
            return {"status": "OK"}, 200
    if seg == ["reactions"] and method == "POST":
        b = body if isinstance(body, dict) else {}
        p = POSTS.get(b.get("post_id") or "")
        if b.get("user_id") != uid or p is None or not may_access(uid, CHANNELS[p["channel_id"]]):
            return forbidden()
        return dict(b, create_at=now_ms()), 201
    return not_found("/".join(seg))


def token_user(auth_header):
    scheme, _, token = (auth_header or "").partition(" ")
    if scheme.lower() not in ("bearer", "token"):
        return None
    return TOKENS.get(token.strip())


async def api(request):
    raw = await request.read()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = {"_bytes": len(raw)}
    seg = [s for s in request.match_info["tail"].split("/") if s]
    uid = token_user(request.headers.get("Authorization"))
    if request.method == "GET" and seg == ["system", "ping"]:
        resp, status = {"status": "OK"}, 200
    elif uid is None:
        resp, status = unauthorized()
    else:
        resp, status = route(uid, request.method, seg, body, request.query)
    ua = request.headers.get("User-Agent", "")
    log({"dir": "http", "from": "livestatus" if ua.startswith("openclaw-livestatus/") else "gateway",
         "user": USERS[uid]["username"] if uid else None,
         "method": request.method, "path": "/api/v4/" + "/".join(seg), "query": request.query_string,
         "body": body, "status": status,
         "resp_id": resp.get("id") if isinstance(resp, dict) and status < 300 else None})
    return web.json_response(resp, status=status)


async def send_hello(ws, uid):
    hello = {"event": "hello", "data": {"server_version": "10.5.0.0.fake", "connection_id": new_id()},
             "broadcast": {"omit_users": None, "user_id": uid, "channel_id": "", "team_id": ""},
             "seq": SEQ[0]}
    SEQ[0] += 1
    await ws.send_str(json.dumps(hello))


async def websocket(request):
    ws = web.WebSocketResponse(heartbeat=None)
    await ws.prepare(request)
    uid = token_user(request.headers.get("Authorization"))
    SOCKETS[ws] = uid
    if uid:
        await send_hello(ws, uid)
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
            try:
                m = json.loads(msg.data)
            except ValueError:
                continue
            if not isinstance(m, dict) or not m.get("action"):
                continue
            if m["action"] == "authentication_challenge" and SOCKETS[ws] is None:
                uid = TOKENS.get(str((m.get("data") or {}).get("token")))
                log({"dir": "ws-in", "action": m["action"], "user": USERS[uid]["username"] if uid else None,
                     "status": "OK" if uid else "FAIL"})
                if uid is None:  # the real server closes the connection on a bad token
                    break
                SOCKETS[ws] = uid
                await ws.send_str(json.dumps({"status": "OK", "seq_reply": m.get("seq")}))
                await send_hello(ws, uid)
                continue
            uid = SOCKETS[ws]
            log({"dir": "ws-in", "action": m["action"], "user": USERS[uid]["username"] if uid else None})
            if uid is None:
                await ws.send_str(json.dumps({"status": "FAIL", "seq_reply": m.get("seq"), "error": {
                    "id": "api.web_socket_router.not_authenticated.app_error",
                    "message": "Not authenticated", "status_code": 401}}))
            else:
                await ws.send_str(json.dumps({"status": "OK", "seq_reply": m.get("seq")}))
    finally:
        SOCKETS.pop(ws, None)
        await ws.close()
    return ws


async def inject(request):
    b = await request.json()
    resp, status = create_post(ALICE["id"], b)
    if status == 201:
        log({"dir": "control", "action": "inject", "post_id": resp["id"], "channel_id": resp["channel_id"],
             "root_id": resp["root_id"]})
    return web.json_response(resp, status=200 if status == 201 else status)


async def state(_request):
    return web.json_response({"posts": list(POSTS.values()), "users": list(USERS.values()),
                              "sockets": sorted(USERS[u]["username"] for u in SOCKETS.values() if u)})


def main():
    global LOG
    port, LOG = int(sys.argv[1]), open(sys.argv[2], "a")
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_get("/api/v4/websocket", websocket)
    app.router.add_post("/_control/inject", inject)
    app.router.add_get("/_control/state", state)
    app.router.add_route("*", "/api/v4/{tail:.*}", api)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
