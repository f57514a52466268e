#!/usr/bin/env bash
# Run the end-to-end suite against the Claude Code release npm serves today, and report.
#
#   scripts/e2e-newest.sh              # today's release (npm view @anthropic-ai/claude-code version)
#   scripts/e2e-newest.sh 2.1.340      # a given release
#   scripts/e2e-newest.sh -- -k resume # extra pytest arguments after --
#
# Every single-client test runs on that release; the two-client tests run it as the
# "newest" client beside the pinned one (so mixed-version resumes are pinned <-> today's).
# Run it before every release and whenever a newer client comes out. When it passes with a
# version newer than "newest_verified" in claude-code-versions.json, raise that entry (and
# note what changed in docs/real-client-notes.md). A failure is a bug to fix, not a pin.
set -uo pipefail
cd "$(dirname "$0")/.."

version=""
if [ $# -gt 0 ] && [ "$1" != "--" ]; then version=$1; shift; fi
[ "${1:-}" = "--" ] && shift
if [ -z "$version" ]; then
  version=$(npm view @anthropic-ai/claude-code version 2>/dev/null) || { echo "e2e-newest: npm view failed" >&2; exit 2; }
fi
recorded=$(sed -n 's/^ *"newest_verified": *"\([^"]*\)".*/\1/p' claude-code-versions.json)
pinned=$(sed -n 's/^ *"pinned": *"\([^"]*\)".*/\1/p' claude-code-versions.json)

scripts/install-claude-code.sh "$version" >/dev/null || { echo "e2e-newest: cannot install Claude Code $version" >&2; exit 2; }
echo "e2e-newest: Claude Code $version (pinned $pinned, newest verified $recorded)" >&2
start=$(date +%s)
CLAUDE_CODE_VERSION=$version CLAUDE_SYNC_NEWEST_CLAUDE_CODE=$version \
  .venv/bin/python -m pytest tests/e2e -q -p no:cacheprovider -rfE "$@"
status=$?
took=$(( $(date +%s) - start ))
newer=$(printf '%s\n%s\n' "$recorded" "$version" | sort -V | tail -1)
if [ $status -eq 0 ]; then
  echo "e2e-newest: PASSED with Claude Code $version in ${took}s" >&2
  if [ "$newer" = "$version" ] && [ "$version" != "$recorded" ]; then
    echo "e2e-newest: $version is newer than newest_verified $recorded: raise it in claude-code-versions.json" >&2
  fi
else
  echo "e2e-newest: FAILED with Claude Code $version (exit $status, ${took}s): fix the project for this release" >&2
fi
exit $status
