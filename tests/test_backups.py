"""Backups of replaced local copies: listed, restored, and a restore loses nothing either."""

from __future__ import annotations

import json

from tests.support.claude_fixture import extend_transcript


def test_backups_are_listed_and_restored(devices):
    a, b = devices
    s = a.rich_session()
    a.push()
    b.pull()
    tb = b.project_dir("acme/api") / f"{s.session_id}.jsonl"
    extend_transcript(s.transcript, "a-turn", "2026-11-04T00:00:00.000Z", "from A")
    extend_transcript(tb, "b-turn", "2026-11-05T00:00:00.000Z", "from B")
    before_pull = tb.read_text()
    a.push()
    b.pull()  # merges; B's copy is not a prefix of the merge, so it is backed up
    merged = tb.read_text()
    [backup] = b.cli_json("backups")
    assert backup["session_id"] == s.session_id and "merged" in backup["reason"]
    assert b.cli_json("backups", "--session", s.session_id[:6]) == [backup]
    assert b.cli_json("backups", "--session", "ffff") == []

    r = b.cli("restore", backup["id"][:12])
    assert r.returncode == 0, r.stderr
    assert tb.read_text() == before_pull
    # the merged copy that the restore replaced is itself backed up
    newest = b.cli_json("backups")[0]
    assert newest["reason"].startswith("before restoring")
    saved = b.paths.backups / newest["id"] / "files" / tb.relative_to(b.paths.claude)
    assert saved.read_text() == merged


def test_restore_of_an_unknown_backup_fails_cleanly(devices):
    _, b = devices
    r = b.cli("restore", "nope")
    assert r.returncode == 1 and "no backup" in r.stderr


def test_push_force_from_the_cli(devices):
    a, b = devices
    s = a.rich_session()
    a.push()
    b.pull()
    extend_transcript(b.project_dir("acme/api") / f"{s.session_id}.jsonl", "b-turn", "2026-11-05T00:00:00.000Z", "from B")
    b.push()
    assert json.loads(a.cli("push", "--all", "--json").stdout)["skipped"] == 1
    out = json.loads(a.cli("push", "--all", "--force", "--json").stdout)
    assert out["done"] == 1 and "forced" in out["outcomes"][0]["reason"]
