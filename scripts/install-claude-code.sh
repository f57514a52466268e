#!/usr/bin/env bash
# Install a version of the real Claude Code CLI (npm @anthropic-ai/claude-code) into a
# cache folder outside the repository, for the end-to-end tests.
#
#   scripts/install-claude-code.sh                   # the pinned version
#   scripts/install-claude-code.sh newest-verified   # the newest version the e2e suite passed
#   scripts/install-claude-code.sh 2.1.340           # any version
#
# Prints the absolute path of `claude`. Both named versions live in claude-code-versions.json.
#
# Idempotent: when the pinned version is already there it only checks it and prints
# the path (well under a second). Prints nothing but errors on stderr.
#
# Environment:
#   CLAUDE_SYNC_CACHE     cache root (default: $HOME/.cache/claude-sync-sessions);
#                         the client goes to $CLAUDE_SYNC_CACHE/claude-code/<version>/
#   CLAUDE_CODE_VERSION   a version to install when no argument is given (default: pinned)
#
# The npm package ships the native executable in a per-platform optional dependency
# (@anthropic-ai/claude-code-linux-x64, ...) and its postinstall copies it over
# bin/claude.exe, so nothing but the npm registry is needed. It does not start or
# contact anything else.
set -euo pipefail

PKG="@anthropic-ai/claude-code"
VERSIONS_FILE="$(cd "$(dirname "$0")/.." && pwd)/claude-code-versions.json"

die() { echo "install-claude-code: $*" >&2; exit 1; }

# One "key": "x.y.z" pair per line in the versions file (no JSON parser needed here).
named_version() {
    [[ -f "$VERSIONS_FILE" ]] || die "missing $VERSIONS_FILE"
    local v
    v="$(sed -n "s/^ *\"$1\": *\"\([^\"]*\)\".*/\1/p" "$VERSIONS_FILE")"
    [[ -n "$v" ]] || die "no \"$1\" in $VERSIONS_FILE"
    printf '%s\n' "$v"
}

WANT="${1:-${CLAUDE_CODE_VERSION:-pinned}}"
case "$WANT" in
    pinned) VERSION="$(named_version pinned)" ;;
    newest-verified|newest_verified) VERSION="$(named_version newest_verified)" ;;
    *) VERSION="$WANT" ;;
esac

[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-.][0-9A-Za-z.]+)?$ ]] || die "bad version '$VERSION'"

CACHE_ROOT="${CLAUDE_SYNC_CACHE:-${HOME:?HOME is not set}/.cache/claude-sync-sessions}"
BASE="$CACHE_ROOT/claude-code"
DEST="$BASE/$VERSION"
BIN="$DEST/node_modules/.bin/claude"

# `claude --version` prints e.g. "2.1.332 (Claude Code)".
is_ready() {
    [[ -x "$BIN" ]] || return 1
    local out
    out="$(env -i PATH="$PATH" HOME="$DEST/.probe-home" CLAUDE_CONFIG_DIR="$DEST/.probe-home/.claude" \
        DISABLE_AUTOUPDATER=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
        timeout 60 "$BIN" --version </dev/null 2>/dev/null)" || return 1
    [[ "$out" == "$VERSION "* || "$out" == "$VERSION" ]]
}

print_path() {
    # absolute path of node_modules/.bin/claude (a symlink to the native executable)
    printf '%s\n' "$BIN"
}

if is_ready; then
    print_path
    exit 0
fi

command -v npm >/dev/null 2>&1 || die "npm not found on PATH (install Node.js and npm)"
mkdir -p "$BASE" || die "cannot create $BASE"

# One installer at a time (parallel test runs share the cache).
exec 9>"$BASE/.install-$VERSION.lock"
if command -v flock >/dev/null 2>&1; then
    flock -w 900 9 || die "timed out waiting for another install of $VERSION"
fi

# Another process may have finished it while we waited.
if is_ready; then
    print_path
    exit 0
fi

TMP="$(mktemp -d "$BASE/.tmp-$VERSION.XXXXXX")"
chmod 755 "$TMP"
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT

echo '{"name":"claude-code-cache","private":true}' >"$TMP/package.json"
LOG="$TMP/npm.log"
if ! (cd "$TMP" && timeout 900 npm install --no-audit --no-fund --no-update-notifier \
        --loglevel=error --save-exact "$PKG@$VERSION" >"$LOG" 2>&1); then
    cat "$LOG" >&2
    die "npm install $PKG@$VERSION failed"
fi

# Move into place atomically (a half-installed folder is never visible as DEST).
rm -rf "$DEST.old"
[[ -e "$DEST" ]] && mv "$DEST" "$DEST.old"
mv "$TMP" "$DEST"
trap - EXIT
rm -rf "$DEST.old" "$DEST/npm.log"

if ! is_ready; then
    got="$(timeout 60 "$BIN" --version </dev/null 2>&1 || true)"
    die "installed $PKG@$VERSION but '$BIN --version' printed: ${got:-nothing} (native binary for $(uname -sm) missing?)"
fi
print_path
