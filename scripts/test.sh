#!/usr/bin/env bash
# Run the whole test suite: Python (unit, property, integration with real git remotes and
# the real server, end-to-end with the real Claude Code CLI), then the VS Code extension's
# unit tests and its UI tests in a real VS Code. Sets things up first if needed.
#   scripts/test.sh                 everything
#   scripts/test.sh -k merge -x     only pytest, with these arguments
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import claude_sync, pytest, hypothesis, schemathesis, keyring, psycopg_pool" 2>/dev/null; then
  scripts/setup.sh --no-demo
fi
if [ $# -gt 0 ]; then
  exec .venv/bin/python -m pytest "$@"
fi
status=0
.venv/bin/python -m pytest -ra || status=1
echo "== extension unit tests" >&2
npm test || status=1
echo "== extension UI tests (code-server + Chromium)" >&2
npm run --silent test:ui || status=1
exit $status
