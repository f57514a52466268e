#!/usr/bin/env bash
# Run the whole test suite (sets things up first if needed). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import claude_sync, pytest, hypothesis" 2>/dev/null; then
  scripts/setup.sh --no-demo
fi
exec .venv/bin/python -m pytest "$@"
