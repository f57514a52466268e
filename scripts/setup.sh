#!/usr/bin/env bash
# Set everything up on a fresh clone, then run the main job on the embedded default:
# `claude-sync demo` moves a sample session between two simulated devices through a
# local Git repository, offline. Idempotent: a second run takes seconds.
#   scripts/setup.sh            set up, then run the demo
#   scripts/setup.sh --no-demo  set up only
set -euo pipefail
cd "$(dirname "$0")/.."

demo=1
[ "${1:-}" = "--no-demo" ] && demo=0

python=${PYTHON:-python3}
"$python" - <<'PY' || { echo "setup: Python 3.10 or newer is needed (set PYTHON=...)" >&2; exit 2; }
import sys
sys.exit(0 if sys.version_info >= (3, 10) else 1)
PY

# System packages the tests use (a real sshd for Git over SSH, a real PostgreSQL for the
# server's team-scale store). Installed when we can.
need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
have_pg=0
for d in "$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)")" /usr/lib/postgresql/*/bin; do
  [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/pg_dump" ] && [ -x "$d/pg_restore" ] && have_pg=1
done
[ "$have_pg" = 1 ] || need+=(postgresql)
command -v git >/dev/null || need+=(git)
command -v tmux >/dev/null || need+=(tmux)  # drives the interactive client in tests/e2e
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing ${need[*]}" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "setup: please install ${need[*]} (the SSH and PostgreSQL tests need them)" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,dev,server]' 2>&1 | grep -v -e '^WARNING: Location' -e '^$' >&2 || true
.venv/bin/python -c "import claude_sync, pygls, git, httpx, fastapi, psycopg, psycopg_pool, cryptography" || { echo "setup: Python packages failed to install" >&2; exit 1; }

# The real Claude Code CLI, for the end-to-end tests (cached outside the repository): the
# pinned client and the newest verified one, both named in claude-code-versions.json.
if command -v npm >/dev/null; then
  for client in pinned newest-verified; do
    scripts/install-claude-code.sh "$client" >/dev/null || echo "setup: could not install the $client Claude Code CLI; the end-to-end tests will fail" >&2
  done
else
  echo "setup: npm is missing; the end-to-end tests need it for the Claude Code CLI" >&2
fi

# The VS Code extension: its npm packages, and a real VS Code (code-server) + Chromium for its UI tests.
if command -v npm >/dev/null; then
  scripts/install-ui-test-deps.sh || echo "setup: could not install the extension's UI test tools; npm run test:ui will fail" >&2
fi

if [ "$demo" = 1 ]; then
  .venv/bin/claude-sync demo
fi
