#!/usr/bin/env python3
"""A fake Mattermost (REST /api/v4 + WebSocket) on loopback that both a real OpenClaw gateway's
Mattermost plugin and `openclaw-livestatus run` talk to during `make compat`.

It serves one fixed world (team, bot, the human alice, town-square, the alice<->bot DM) and logs
every request to a JSONL file, tagged with who made it: the daemon sends the User-Agent
`openclaw-livestatus/<version>`, so `"from": "livestatus"`; everything else is the gateway.

What OpenClaw needs (from the fixture recordings, ../../../shared/fixtures/README.md):
- GET /users/me is the plugin's health check every 30 s: its update_at must never change, or
  the plugin reconnects the WebSocket.
- The WebSocket sends `hello`, answers any `action` with {"status":"OK","seq_reply":n}, and
  broadcasts `posted` (with `data.post` a JSON *string*) for every post, the bot's own included,
  like a real server; OpenClaw ignores its own posts.
- channel_type in the event (O or D) is what decides channel vs DM routing.
What the daemon needs: POST /posts with props, PUT /posts/{id}/patch (message only, props kept),
GET /channels/{id}/posts?since=, POST /channels/direct, GET /system/ping.

Control API for the driver (not Mattermost): POST /_control/inject {"channel_id","message",
"root_id"?} posts as alice and broadcasts it; GET /_control/state returns every post.
usage: fake_mattermost.py PORT LOGFILE
"""
import asyncio
import json
import random
import string
import sys
import time

from aiohttp import WSMsgType, web

TEAM = {"id": "tm8x3ke5cbgqjmd7f1r4w2yhno", "name": "acme", "display_name": "Acme", "type": "O"}
FIXED_AT = 1763780000000


def user(uid, name, bot):
    return {"id": uid, "username": name, "first_name": name, "last_name": "", "nickname": "",
            "is_bot": bot, "roles": "system_user", "locale": "en", "update_at": FIXED_AT,
            "create_at": FIXED_AT, "delete_at": 0, "email": name + "@example.invalid"}


BOT = user("bt9f4k2m7xq1w8e5r3t6y0uiop", "openclaw", True)
ALICE = user("us3a7lice0000000000000000a", "alice", False)
USERS = {u["id"]: u for u in (BOT, ALICE)}


def channel(cid, ctype, name, display, team):
    return {"id": cid, "team_id": team, "type": ctype, "name": name, "display_name": display,
            "header": "", "purpose": "", "create_at": FIXED_AT, "update_at": FIXED_AT,
            "delete_at": 0, "creator_id": ALICE["id"]}


TOWN = channel("ch4town5quare00000000000ab", "O", "town-square", "Town Square", TEAM["id"])
DM = channel("ch7dm0alice0bot00000000000", "D", BOT["id"] + "__" + ALICE["id"], "", "")
CHANNELS = {c["id"]: c for c in (TOWN, DM)}
POSTS = {}
SOCKETS = set()
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


def broadcast(event, data, channel_id):
    frame = {"event": event, "data": data, "seq": SEQ[0],
             "broadcast": {"omit_users": None, "user_id": "", "channel_id": channel_id,
                           "team_id": CHANNELS.get(channel_id, {}).get("team_id", "")}}
    SEQ[0] += 1
    raw = json.dumps(frame)
    for ws in list(SOCKETS):
        asyncio.ensure_future(ws.send_str(raw))


def make_post(channel_id, user_id, message, root_id="", props=None):
    t = now_ms()
    p = {"id": new_id(), "create_at": t, "update_at": t, "edit_at": 0, "delete_at": 0,
         "user_id": user_id, "channel_id": channel_id, "root_id": root_id or "", "original_id": "",
         "message": message, "type": "", "props": props or {}, "hashtags": "",
         "pending_post_id": "", "reply_count": 0, "file_ids": [], "metadata": {}}
    POSTS[p["id"]] = p
    ch = CHANNELS.get(channel_id, {})
    sender = USERS.get(user_id, {}).get("username", "unknown")
    data = {"channel_display_name": ch.get("display_name", ""), "channel_name": ch.get("name", ""),
            "channel_type": ch.get("type", "O"), "post": json.dumps(p), "sender_name": "@" + sender,
            "set_online": True, "team_id": ch.get("team_id", "")}
    if ch.get("type") == "D":
        data["mentions"] = json.dumps([BOT["id"]])
    broadcast("posted", data, channel_id)
    return p


def not_found(what):
    return {"id": "api.context.404.app_error", "message": what + " not found", "status_code": 404}, 404


def route(method, seg, body, query):
    if seg == ["system", "ping"]:
        return {"status": "OK"}, 200
    if seg[:1] == ["users"]:
        if method == "GET" and seg == ["users", "me"]:
            return BOT, 200
        if method == "POST" and seg == ["users", "me", "typing"]:
            return {"status": "OK"}, 200
        if method == "GET" and len(seg) == 3 and seg[2] == "teams":
            return [TEAM], 200
        if method == "GET" and len(seg) == 3 and seg[2] == "channels":
            return list(CHANNELS.values()), 200
        if method == "GET" and len(seg) == 3 and seg[1] == "username":
            u = next((u for u in USERS.values() if u["username"] == seg[2]), None)
            return (u, 200) if u else not_found("user")
        if method == "POST" and seg == ["users", "ids"]:
            return [USERS[i] for i in (body or []) if i in USERS], 200
        if method == "GET" and len(seg) == 2:
            return (USERS[seg[1]], 200) if seg[1] in USERS else not_found("user")
    if seg[:1] == ["teams"] and method == "GET":
        if len(seg) == 2:
            return TEAM, 200
        if len(seg) == 5 and seg[2:4] == ["channels", "name"]:
            c = next((c for c in CHANNELS.values() if c["name"] == seg[4]), None)
            return (c, 200) if c else not_found("channel")
    if seg[:1] == ["channels"]:
        if method == "POST" and seg == ["channels", "direct"]:
            if sorted(body or []) == sorted([BOT["id"], ALICE["id"]]):
                return DM, 201
            return {"message": "only the alice<->bot DM exists here", "status_code": 400}, 400
        if method == "GET" and len(seg) == 2:
            return (CHANNELS[seg[1]], 200) if seg[1] in CHANNELS else not_found("channel")
        if method == "GET" and len(seg) == 3 and seg[2] == "posts":
            since = int(query.get("since", "0") or 0)
            ps = sorted((p for p in POSTS.values() if p["channel_id"] == seg[1]
                         and max(p["create_at"], p["update_at"]) >= since), key=lambda p: -p["create_at"])
            return {"order": [p["id"] for p in ps], "posts": {p["id"]: p for p in ps},
                    "next_post_id": "", "prev_post_id": ""}, 200
    if seg[:1] == ["posts"]:
        if method == "POST" and len(seg) == 1:
            b = body or {}
            p = make_post(b.get("channel_id", ""), BOT["id"], b.get("message", ""),
                          b.get("root_id", ""), b.get("props"))
            return p, 201
        p = POSTS.get(seg[1]) if len(seg) >= 2 else None
        if p is None:
            return not_found("post")
        if method == "GET" and len(seg) == 2:
            return p, 200
        if method == "GET" and seg[2:] == ["thread"]:
            root = p["root_id"] or p["id"]
            ps = [q for q in POSTS.values() if root in (q["id"], q["root_id"])]
            return {"order": [q["id"] for q in ps], "posts": {q["id"]: q for q in ps}}, 200
        if method == "PUT" and len(seg) == 2 or method == "PUT" and seg[2:] == ["patch"]:
            b = body or {}
            if "message" in b:
                p["message"] = b["message"]
            if len(seg) == 2 or b.get("props") is not None:
                # a plain PUT replaces the props, as the real server does
                p["props"] = b.get("props") or {}
            p["edit_at"] = p["update_at"] = now_ms()
            broadcast("post_edited", {"post": json.dumps(p)}, p["channel_id"])
            return p, 200
        if method == "DELETE" and len(seg) == 2:
            p["delete_at"] = now_ms()
            broadcast("post_deleted", {"post": json.dumps(p)}, p["channel_id"])
            return {"status": "OK"}, 200
    if seg == ["reactions"] and method == "POST":
        return dict(body or {}, create_at=now_ms()), 201
    return not_found("/".join(seg))


async def api(request):
    raw = await request.read()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = {"_bytes": len(raw)}
    seg = [s for s in request.match_info["tail"].split("/") if s]
    resp, status = route(request.method, seg, body, request.query)
    ua = request.headers.get("User-Agent", "")
    log({"dir": "http", "from": "livestatus" if ua.startswith("openclaw-livestatus/") else "gateway",
         "method": request.method, "path": "/api/v4/" + "/".join(seg), "query": request.query_string,
         "body": body, "status": status,
         "resp_id": resp.get("id") if isinstance(resp, dict) else None})
    return web.json_response(resp, status=status)


async def websocket(request):
    ws = web.WebSocketResponse(heartbeat=None)
    await ws.prepare(request)
    SOCKETS.add(ws)
    hello = {"event": "hello", "data": {"server_version": "10.5.0.0.fake", "connection_id": new_id()},
             "broadcast": {"omit_users": None, "user_id": BOT["id"], "channel_id": "", "team_id": ""},
             "seq": SEQ[0]}
    SEQ[0] += 1
    await ws.send_str(json.dumps(hello))
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
            try:
                m = json.loads(msg.data)
            except ValueError:
                continue
            if isinstance(m, dict) and m.get("action"):
                log({"dir": "ws-in", "action": m["action"]})
                await ws.send_str(json.dumps({"status": "OK", "seq_reply": m.get("seq")}))
    finally:
        SOCKETS.discard(ws)
    return ws


async def inject(request):
    b = await request.json()
    p = make_post(b["channel_id"], ALICE["id"], b["message"], b.get("root_id", ""))
    log({"dir": "control", "action": "inject", "post_id": p["id"], "channel_id": p["channel_id"],
         "root_id": p["root_id"]})
    return web.json_response(p)


async def state(_request):
    return web.json_response({"posts": list(POSTS.values()), "sockets": len(SOCKETS)})


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
