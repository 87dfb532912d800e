'use strict';
// A stand-in for the old Node daemon's transcript watcher, for the load bench's second reference
// row (issue #14: "the old Node daemon's fs.watch + 500 ms poll"). Its code is not available: this
// is written from its described design, not ported from it. It does the same kind of work per
// line (read the appended bytes, split lines, JSON.parse each) and nothing else: no status boxes,
// no HTTP. Usage: node node_reference.js <gateway state dir>. No dependencies beyond Node's own.

const fs = require('fs');
const path = require('path');
const { StringDecoder } = require('string_decoder');

const POLL_MS = 500;

const state = process.argv[2];
if (!state) {
  console.error('usage: node node_reference.js <gateway state dir>');
  process.exit(2);
}
const agents = path.join(state, 'agents');

// Per transcript: bytes consumed, and the decoded tail after the last newline (a line the
// gateway is still writing, or a UTF-8 sequence cut by a read).
const transcripts = new Map();
// Per sessions directory: its watcher; a directory whose watcher failed is dropped here so the
// next poll watches it again.
const watchers = new Map();
// Per sessions.json: the mtime it was last parsed at.
const indexes = new Map();

let lines = 0;
let badLines = 0;
let indexReads = 0;

function readNew(file) {
  let st;
  try {
    st = fs.statSync(file);
  } catch {
    // Deleted between the listing (or the event) and now.
    transcripts.delete(file);
    return;
  }
  let t = transcripts.get(file);
  if (!t || st.size < t.offset) {
    // New, or rewritten shorter: read it from the start.
    t = { offset: 0, partial: '', decoder: new StringDecoder('utf8') };
    transcripts.set(file, t);
  }
  if (st.size === t.offset) return;
  let fd;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return;
  }
  try {
    const buf = Buffer.allocUnsafe(st.size - t.offset);
    let got = 0;
    while (got < buf.length) {
      const n = fs.readSync(fd, buf, got, buf.length - got, t.offset + got);
      if (n === 0) break;
      got += n;
    }
    t.offset += got;
    const parts = (t.partial + t.decoder.write(buf.subarray(0, got))).split('\n');
    t.partial = parts.pop();
    for (const line of parts) {
      if (line.length === 0) continue;
      try {
        JSON.parse(line);
        lines++;
      } catch {
        badLines++;
      }
    }
  } catch {
    // A read error leaves the offset where it got to; the next event or poll retries.
  } finally {
    fs.closeSync(fd);
  }
}

function readIndex(file) {
  let st;
  try {
    st = fs.statSync(file);
  } catch {
    indexes.delete(file);
    return;
  }
  if (indexes.get(file) === st.mtimeMs) return;
  indexes.set(file, st.mtimeMs);
  try {
    JSON.parse(fs.readFileSync(file, 'utf8'));
    indexReads++;
  } catch {
    // Caught mid-write: the next change (or poll after it) reads it again.
    indexes.delete(file);
  }
}

function watch(dir) {
  if (watchers.has(dir)) return;
  let w;
  try {
    w = fs.watch(dir, (event, name) => {
      if (!name) {
        scanDir(dir);
      } else if (name.endsWith('.jsonl')) {
        readNew(path.join(dir, name));
      } else if (name === 'sessions.json') {
        readIndex(path.join(dir, name));
      }
    });
  } catch {
    return;
  }
  w.on('error', () => {
    w.close();
    watchers.delete(dir);
  });
  watchers.set(dir, w);
}

function scanDir(dir) {
  let names;
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (name.endsWith('.jsonl')) readNew(path.join(dir, name));
  }
  readIndex(path.join(dir, 'sessions.json'));
}

function poll() {
  let agentNames;
  try {
    agentNames = fs.readdirSync(agents);
  } catch {
    return;
  }
  for (const agent of agentNames) {
    const dir = path.join(agents, agent, 'sessions');
    if (!fs.existsSync(dir)) continue;
    watch(dir);
    scanDir(dir);
  }
}

poll();
setInterval(poll, POLL_MS);

function exit() {
  console.error(`node reference: ${lines} lines parsed, ${badLines} unparsable, ${indexReads} index reads`);
  process.exit(0);
}
process.on('SIGTERM', exit);
process.on('SIGINT', exit);
