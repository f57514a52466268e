"""End-to-end encryption (docs/encryption.md) on both backends, with real remotes.

The Git host and the sync server must see nothing of a session but its id, padded sizes,
times and a blind index; a wrong key, a tampered, swapped or replayed object is refused and
nothing local changes.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import zlib
from pathlib import Path

import pytest

from claude_sync.encryption import envelope, keys
from claude_sync.format.bundle import Bundle, Manifest, content_digest
from tests.support.devices import Device

PASS = "correct horse battery staple"
MARKERS = {
    "project": "zanzibar-marker-project",
    "title": "Quokka marker title",
    "prompt": "Please refactor the flamingo-marker-prompt module",
    "file": "SECRET-PLATYPUS-MARKER-CONTENT",
}


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDE_SYNC_ARGON2_MEMORY_KIB", str(8 * 1024))  # the floor: tests share 2 cores


def marker_session(dev: Device):  # type: ignore[no-untyped-def]
    s = dev.session(MARKERS["project"] + "/api")
    s.user(MARKERS["prompt"])
    s.write_tool("notes.txt", MARKERS["file"] + "\n")
    s.title(MARKERS["title"])
    s.assistant("done")
    return s.write()


def init(dev: Device, *extra: str, stdin: str = "") -> str:
    r = dev_cli(dev, "encryption", "init", *extra, stdin=stdin)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().splitlines()[-1]


def dev_cli(dev: Device, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    import sys

    from tests.support.devices import REPO

    return subprocess.run(
        [sys.executable, "-m", "claude_sync", *args], input=stdin, env=dev.env(), cwd=REPO,
        capture_output=True, text=True, timeout=120,
    )


def test_phrase_round_trip_and_checksum():
    key = keys.new_account_key()
    phrase = keys.phrase_for(key)
    assert len(phrase.split()) == 24 and keys.key_from_phrase(phrase.upper()) == key
    words = phrase.split()
    words[3], words[4] = words[4], words[3]
    if words != phrase.split():
        with pytest.raises(keys.WrongKey):
            keys.key_from_phrase(" ".join(words))


def test_padme_costs_at_most_twelve_percent():
    for n in list(range(1, 5000)) + [10**6 + 7, 3 * 10**7 + 1]:
        p = envelope.padme(n)
        assert n <= p <= n * 1.12 + 1


def leaks(blob: bytes) -> list[str]:
    """The markers `blob` holds, as is or inside a gzip or zlib stream."""
    forms = [blob]
    for opener in (gzip.decompress, zlib.decompress):
        try:
            forms.append(opener(blob))
        except Exception:
            pass
    return [name for name, m in MARKERS.items() for f in forms if m.encode() in f]


def git_leaks(repo: Path) -> list[str]:
    """Markers in any object, ref or commit message of a Git repository, or in its files on disk."""
    found = []
    batch = subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch"], cwd=repo, capture_output=True, check=True
    ).stdout
    pos = 0
    while pos < len(batch):  # each object on its own: a zlib or gzip stream is found only from its first byte
        nl = batch.index(b"\n", pos)
        size = int(batch[pos:nl].split()[2])
        found += leaks(batch[nl + 1 : nl + 1 + size])
        pos = nl + 1 + size + 1
    found += leaks(subprocess.run(["git", "log", "--all", "--format=%B%an%ae%cn%ce"], cwd=repo, capture_output=True).stdout)
    found += leaks(subprocess.run(["git", "for-each-ref"], cwd=repo, capture_output=True).stdout)
    for p in repo.rglob("*"):
        if p.is_file():
            found += [f"{n} in {p.name}" for n in leaks(p.read_bytes())]
    return sorted(set(found))


def dir_leaks(root: Path) -> list[str]:
    found = []
    for p in root.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            found += [f"{n} in {p.name}" for n in leaks(data)]
    return sorted(set(found))


def test_git_two_devices_and_the_host_sees_no_marker(devices, bare_remote: Path):
    a, b = devices
    s = marker_session(a)
    phrase = init(a)
    assert len(phrase.split()) == 24
    assert a.push().exit_code == 0
    assert git_leaks(bare_remote) == []
    # the key lives in the credential store, never in config.json
    assert phrase not in a.paths.config_file.read_text() and "key" not in json.loads(a.paths.config_file.read_text())
    cred = a.paths.data / "credentials.json"
    assert cred.stat().st_mode & 0o077 == 0
    r = dev_cli(b, "encryption", "join", stdin=phrase + "\n")
    assert r.returncode == 0, r.stderr
    summary = b.pull()
    assert summary.exit_code == 0, summary.outcomes
    target = b.project_dir(MARKERS["project"] + "/api") / f"{s.session_id}.jsonl"
    assert MARKERS["file"] in target.read_text() and b.cwd(MARKERS["project"] + "/api") in target.read_text()
    listed = b.cli_json("remote")
    assert [e["title"] for e in listed] == [MARKERS["title"]]  # decrypted locally


def test_the_marker_check_sees_a_plain_remote(devices, bare_remote: Path):
    a, _ = devices
    marker_session(a)
    assert a.push().exit_code == 0
    assert set(MARKERS) <= {f.split()[0] for f in git_leaks(bare_remote)}
