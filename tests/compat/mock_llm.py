#!/usr/bin/env python3
"""A scripted OpenAI-compatible model server on loopback for `make compat`.

The scenario is chosen by a `[scen:NAME]` marker in the conversation; once tool results follow
the prompt, the model gives its final text. Facts from the fixture recordings it relies on:
- OpenClaw appends extra *user* messages after the real prompt (2026.9:
  <<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>, which quotes thread history): those are skipped, and the
  marker that occurs last in the chosen message wins (a reply may quote earlier posts).
- 2026.9 offers sessions_spawn only through the tool-search surface: tool_call{id, args}.
- 2026.4 puts a sub-agent's task in the system prompt, not in a user message.
- A sub-agent's completion comes back to the parent as a user message holding SUBRESULT-OK
  (2026.7, 2026.9), or as another message after the prompt (2026.4).
Every request and reply is logged (JSONL) so the driver knows when a scenario's final reply went out.
usage: mock_llm.py PORT LOGFILE NOTES_DIR
"""
import json
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, LOGFILE, NOTES = int(sys.argv[1]), sys.argv[2], sys.argv[3]
LOCK = threading.Lock()
CHUNK_DELAY_S = 0.1

FINAL = {
    "tools": "I read hello.txt and listed the notes folder. The file says hello and the folder has two files.",
    "thread": "Thread reply: the echo command printed thread-reply-ok as expected.",
    "dm": "Here is what hello.txt says, read for you in this direct message.",
    "fail": "I could not read missing.txt because the file does not exist.",
    "spawn": "I started a sub-agent for that task; it will report back here when it is done.",
    "subtask": "SUBRESULT-OK the notes folder contains 2 files.",
    "announce": "The sub-agent finished: it counted the files in the notes folder. Nothing else to do.",
    "plain": "MOCK reply: no scenario marker, so just answering in plain text.",
}


def log(entry):
    with LOCK, open(LOGFILE, "a") as f:
        f.write(json.dumps({"t_ms": int(time.time() * 1000), **entry}) + "\n")


def text_of(m):
    c = m.get("content")
    if isinstance(c, list):
        return " ".join(p.get("text", "") for p in c if isinstance(p, dict))
    return c or ""


def offered(body):
    out = {}
    for t in body.get("tools") or []:
        fn = t.get("function") or t
        if fn.get("name"):
            out[fn["name"]] = (fn.get("parameters") or {}).get("properties", {})
    return out


def scenario_of(msgs):
    """(scenario, index of the prompting message)."""
    users = [i for i, m in enumerate(msgs) if m.get("role") == "user"
             and "BEGIN_OPENCLAW_INTERNAL_CONTEXT" not in text_of(m)]
    marked = [i for i in users if re.search(r"\[scen:[a-z]+\]|SUBRESULT-OK", text_of(msgs[i]))]
    idx = marked[-1] if marked else (users[-1] if users else -1)
    text = text_of(msgs[idx]) if idx >= 0 else ""
    hits = list(re.finditer(r"\[scen:([a-z]+)\]|SUBRESULT-OK", text))
    if hits:
        last = hits[-1]
        return ("announce" if last.group(0) == "SUBRESULT-OK" else last.group(1)), idx
    system = " ".join(text_of(m) for m in msgs if m.get("role") == "system")
    if "[scen:subtask]" in system:  # 2026.4: the sub-agent's task is in its system prompt
        return "subtask", idx
    return "plain", idx


def plan(body):
    msgs = body.get("messages") or []
    scen, idx = scenario_of(msgs)
    if scen == "spawn" and any("SUBRESULT-OK" in text_of(m) for m in msgs[idx + 1:] if m.get("role") != "assistant"):
        # 2026.4 hands the sub-agent's result to the parent outside a user message
        scen = "announce"
    tools = offered(body)
    tool_results = sum(1 for m in msgs[idx + 1:] if m.get("role") == "tool")
    if scen not in FINAL or scen in ("announce", "plain") or tool_results or not tools:
        return scen, FINAL.get(scen, FINAL["plain"]), []

    def path_key():
        props = tools.get("read") or {}
        return next((k for k in ("path", "file_path") if k in props), "path")

    pre, calls = "", []
    if scen == "tools":
        pre = "Let me check the notes folder."
        calls = [("read", {path_key(): NOTES + "/hello.txt"}), ("exec", {"command": "ls -la " + NOTES})]
    elif scen == "thread":
        calls = [("exec", {"command": "echo thread-reply-ok"})]
    elif scen == "dm":
        calls = [("read", {path_key(): NOTES + "/hello.txt"})]
    elif scen == "fail":
        calls = [("read", {path_key(): NOTES + "/missing.txt"})]
    elif scen == "subtask":
        calls = [("exec", {"command": "ls " + NOTES + " | wc -l"})]
    elif scen == "spawn":
        args = {"task": "[scen:subtask] Count the files in the notes folder and report the number.",
                "label": "count-notes", "mode": "run"}
        calls = [("sessions_spawn", args)] if "sessions_spawn" in tools else \
            [("tool_call", {"id": "sessions_spawn", "args": args})]
    calls = [c for c in calls if c[0] in tools]
    if not calls:
        return scen, "MOCK: the tools this scenario needs were not offered: " + ",".join(sorted(tools)), []
    return scen, pre, calls


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args):
        pass

    def send_json(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.rstrip("/").endswith("/models"):
            return self.send_json(200, {"object": "list", "data": [{"id": "mock-1", "object": "model"}]})
        return self.send_json(404, {"error": {"message": "not found"}})

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self.send_json(400, {"error": {"message": "bad json"}})
        if not self.path.rstrip("/").endswith("/chat/completions"):
            return self.send_json(404, {"error": {"message": "unsupported " + self.path}})
        scen, text, calls = plan(body)
        msgs = body.get("messages") or []
        log({"scenario": scen, "final": not calls, "text": text, "tools": [c[0] for c in calls],
             "roles": [m.get("role") for m in msgs],
             "subresult_in": [i for i, m in enumerate(msgs) if "SUBRESULT-OK" in text_of(m)]})
        cid, created = "chatcmpl-" + uuid.uuid4().hex[:12], int(time.time())
        usage = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
        tool_calls = [{"id": "call_" + uuid.uuid4().hex[:10], "type": "function",
                       "function": {"name": n, "arguments": json.dumps(a)}} for n, a in calls]
        time.sleep(0.5)
        if not body.get("stream"):
            msg = {"role": "assistant", "content": text or None}
            if tool_calls:
                msg["tool_calls"] = tool_calls
            return self.send_json(200, {"id": cid, "object": "chat.completion", "created": created,
                                        "model": "mock-1", "usage": usage, "choices": [
                                            {"index": 0, "message": msg,
                                             "finish_reason": "tool_calls" if tool_calls else "stop"}]})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()

        def chunk(delta, finish=None, choices=True):
            c = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": "mock-1",
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if choices else []}
            if not choices:
                c["usage"] = usage
            self.wfile.write(b"data: " + json.dumps(c).encode() + b"\n\n")
            self.wfile.flush()

        chunk({"role": "assistant", "content": ""})
        for word in text.split(" ") if text else []:
            chunk({"content": word + " "})
            time.sleep(CHUNK_DELAY_S)
        for i, tc in enumerate(tool_calls):
            chunk({"tool_calls": [{"index": i, "id": tc["id"], "type": "function",
                                   "function": {"name": tc["function"]["name"], "arguments": ""}}]})
            chunk({"tool_calls": [{"index": i, "function": {"arguments": tc["function"]["arguments"]}}]})
            time.sleep(CHUNK_DELAY_S)
        chunk({}, "tool_calls" if tool_calls else "stop")
        chunk(None, choices=False)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True
        log({"scenario": scen, "stream_end": True, "final": not calls})


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
