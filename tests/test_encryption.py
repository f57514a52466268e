"""End-to-end encryption (docs/encryption.md) on both backends, with real remotes.

The Git host and the sync server must see nothing of a session but its id, padded sizes,
times and a blind index; a wrong key, a tampered, swapped or replayed object is refused and
nothing local changes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import zlib
from pathlib import Path

import pytest

from claude_sync import credentials, spill
from claude_sync.backends import Backend, open_backend
from claude_sync.encryption import envelope, keys, setup
from claude_sync.engine import Selection
from claude_sync.format import bundle as bundle_format
from claude_sync.format.bundle import Bundle
from claude_sync.format.errors import BundleError, SyncError
from claude_sync.format.layout import KEY_RECORD_ID
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
    # Two words swapped: the 8-bit checksum (BIP39's) refuses that 255 times in 256, and a swap it
    # lets through spells another key, never this one. Fixed keys: a random one failed 1 run in 256.
    refused = swapped = 0
    for i in range(256):
        k = hashlib.sha256(b"phrase test %d" % i).digest()
        words = keys.phrase_for(k).split()
        if words[3] == words[4]:
            continue
        words[3], words[4] = words[4], words[3]
        swapped += 1
        try:
            assert keys.key_from_phrase(" ".join(words)) != k
        except keys.WrongKey:
            refused += 1
    assert swapped >= 250 and refused >= swapped - 4, (refused, swapped)


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


# -- both backends ---------------------------------------------------------------------


@pytest.fixture(params=["git", "server"])
def pair(request, tmp_path: Path, bare_remote: Path):  # type: ignore[no-untyped-def]
    """Two devices on one remote, and a function listing the markers the remote holds anywhere."""
    if request.param == "git":
        a = Device(tmp_path / "machines", "alpha", "code", git_url=str(bare_remote))
        b = Device(tmp_path / "machines", "beta", "work/projects", git_url=str(bare_remote))
        return a, b, lambda: git_leaks(bare_remote)
    server = request.getfixturevalue("private_sync_server")
    a = server.device(tmp_path / "machines", "alpha", "code")
    b = server.device(tmp_path / "machines", "beta", "work/projects")
    return a, b, lambda: dir_leaks(server.data)


def test_the_remote_holds_no_marker_and_the_other_device_reads_everything(pair):
    a, b, remote_leaks = pair
    s = marker_session(a)
    phrase = init(a)
    assert a.push().exit_code == 0
    assert remote_leaks() == []
    assert dev_cli(b, "encryption", "join", stdin=phrase + "\n").returncode == 0
    assert b.pull().exit_code == 0
    target = b.project_dir(MARKERS["project"] + "/api") / f"{s.session_id}.jsonl"
    assert MARKERS["file"] in target.read_text() and b.cwd(MARKERS["project"] + "/api") in target.read_text()
    # B continues the session; A gets the append back, still nothing in clear on the remote
    with target.open("a") as f:
        f.write(json.dumps({"type": "user", "message": {"role": "user", "content": MARKERS["prompt"] + " again"},
                            "cwd": b.cwd(MARKERS["project"] + "/api"), "sessionId": s.session_id,
                            "timestamp": "2026-11-02T10:00:00.000Z", "uuid": "u-2"}) + "\n")
    assert b.push().exit_code == 0
    assert a.pull().exit_code == 0
    assert "again" in s.transcript.read_text()
    assert remote_leaks() == []
    st = json.loads(dev_cli(a, "encryption", "status", "--json").stdout)
    assert st["encrypted"] and st["joined"] and st["sealed"] == 1 and st["plain"] == 0


def test_a_sealed_session_whose_files_wait_on_disk_is_opened(pair, monkeypatch: pytest.MonkeyPatch):
    """A sealed file larger than the spill limit comes from the backend as a temp file (spill.py)."""
    a, b, _remote_leaks = pair
    s = marker_session(a)
    phrase = init(a)
    assert a.push().exit_code == 0
    assert dev_cli(b, "encryption", "join", stdin=phrase + "\n").returncode == 0
    monkeypatch.setattr(spill, "SPILL_BYTES", 64)  # every file spills
    monkeypatch.setattr(bundle_format, "_IN_MEMORY_UNPACKED", 64)  # and the server's bundles stream
    assert b.pull().exit_code == 0
    target = b.project_dir(MARKERS["project"] + "/api") / f"{s.session_id}.jsonl"
    assert MARKERS["file"] in target.read_text() and b.cwd(MARKERS["project"] + "/api") in target.read_text()


def test_turning_it_on_seals_what_the_remote_holds_in_plain(pair):
    a, b, remote_leaks = pair
    marker_session(a)
    assert a.push().exit_code == 0
    assert remote_leaks()  # plain so far
    r = dev_cli(a, "encryption", "init")
    assert r.returncode == 0 and "sealed 1 session" in r.stdout, r.stderr
    if a.config.backend == "git":
        current = subprocess.run(["git", "archive", "main"], cwd=a.config.git_url, capture_output=True).stdout
        assert leaks(current) == []  # gone from the current tree; older commits keep it (docs/encryption.md)
    else:
        assert remote_leaks() == []
    assert dev_cli(b, "encryption", "join", stdin=r.stdout.splitlines()[-1]).returncode == 0
    assert b.pull().exit_code == 0


def test_a_device_that_has_not_joined_never_pushes_plaintext(pair, tmp_path: Path):
    a, b, remote_leaks = pair
    init(a)
    marker_session(b)
    r = b.cli("push", "--all")
    assert r.returncode != 0 and "encryption join" in r.stderr, r.stderr
    assert remote_leaks() == []
    r = b.cli("remote")
    assert r.returncode != 0 and "encryption join" in r.stderr


def test_a_wrong_phrase_or_passphrase_stores_nothing(pair):
    a, b, _ = pair
    phrase = init(a, "--passphrase", stdin=PASS + "\n")
    credentials = b.paths.data / "credentials.json"
    before = credentials.read_bytes() if credentials.exists() else None
    other = keys.phrase_for(keys.new_account_key())
    words = phrase.split()
    typo = " ".join(words[:-1] + [next(w for w in ("baba", "babo") if w != words[-1])])
    for wrong in (other, typo, "not the passphrase", "", " ".join(words[:20])):
        r = dev_cli(b, "encryption", "join", stdin=wrong + "\n")
        assert r.returncode != 0 and "nothing was stored" in r.stderr, (wrong, r.stderr)
        assert (credentials.read_bytes() if credentials.exists() else None) == before
    assert dev_cli(b, "encryption", "join", stdin=PASS + "\n").returncode == 0
    r = dev_cli(b, "encryption", "show-phrase", stdin="no\n")
    assert r.returncode != 0 and phrase not in r.stdout
    assert dev_cli(b, "encryption", "show-phrase", stdin="yes\n").stdout.strip() == phrase


def test_an_encrypted_account_on_the_server_stores_only_sealed_sessions(private_sync_server, tmp_path: Path):
    a = private_sync_server.device(tmp_path / "machines", "alpha", "code")
    private_sync_server.admin("set_account", private_sync_server.user, encrypted=True)
    marker_session(a)
    summary = a.push()
    assert summary.exit_code != 0 and "only sealed" in str(summary.outcomes)
    init(a)
    assert a.push().exit_code == 0
    with private_sync_server.client() as c:
        listed = c.get("/api/sessions").json()["sessions"]
    assert all(e["project_key"].startswith("e2e/") or e["session_id"].startswith("00000000") for e in listed)
    assert leaks(json.dumps(listed).encode()) == []
    assert dir_leaks(private_sync_server.data) == []


# -- a hostile host --------------------------------------------------------------------


class Hostile(Backend):
    """The remote as a host that rewrites what it serves, consistently enough to pass every
    check but the encryption's (bundle checksums and content digests recomputed)."""

    def __init__(self, inner: Backend, serve=None, listing=None) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.serve, self.listing, self.name = inner, serve, listing, inner.name

    def refresh(self) -> None:
        self.inner.refresh()

    def entries(self):  # type: ignore[no-untyped-def]
        entries = self.inner.entries()
        return self.listing(entries) if self.listing else entries

    def fetch(self, session_id, have=None):  # type: ignore[no-untyped-def]
        got = self.inner.fetch(session_id, have)
        return self.serve(session_id, got) if self.serve and session_id != KEY_RECORD_ID else got

    def push(self, items):  # type: ignore[no-untyped-def]
        return self.inner.push(items)

    def close(self) -> None:
        self.inner.close()


def rebuilt(b: Bundle, files: dict[str, bytes], session_id: str | None = None) -> Bundle:
    m = b.manifest.model_copy(update={"session_id": session_id or b.session_id})
    return Bundle.build(m, files, binary=set(files))


def pull_through(dev: Device, hostile: Hostile, *ids: str) -> tuple[str, str]:
    """Pull through a hostile host: (status, reason) of the first failure, or of an error raised."""
    engine = dev.engine(setup.wrap(hostile, dev.config, dev.paths))
    try:
        summary = engine.pull(Selection(all=not ids, ids=ids))
    except SyncError as e:
        return "raised", str(e)
    finally:
        engine.close()
    failed = [(o.status, o.reason) for o in summary.outcomes if o.status == "failed"]
    return failed[0] if failed else ("ok", "")


def joined_pair(pair):  # type: ignore[no-untyped-def]
    a, b, remote_leaks = pair
    s1, s2 = marker_session(a), a.rich_session("acme/api")
    phrase = init(a)
    assert a.push().exit_code == 0
    assert dev_cli(b, "encryption", "join", stdin=phrase + "\n").returncode == 0
    return a, b, s1, s2


def plain_inner(dev: Device) -> Backend:
    return open_backend(dev.config, dev.paths)


def test_tampered_and_swapped_objects_are_refused_and_nothing_is_written(pair):
    a, b, s1, s2 = joined_pair(pair)
    before = b.all_files()

    def flip(sid: str, got: Bundle) -> Bundle:
        files = dict(got.files)
        log = next(n for n in files if n.endswith(".jsonl"))
        data = bytearray(files[log])
        data[-20] ^= 1
        files[log] = bytes(data)
        return rebuilt(got, files)

    sealed = {s.session_id: plain_inner(a).fetch(s.session_id) for s in (s1, s2)}

    def swap_sessions(sid: str, got: Bundle) -> Bundle:
        other = sealed[s2.session_id if sid == s1.session_id else s1.session_id]
        return rebuilt(other, dict(other.files), session_id=sid)

    def swap_logs(sid: str, got: Bundle) -> Bundle:
        files = dict(got.files)
        logs = sorted(n for n in files if n.endswith(".jsonl"))  # the rich session has two
        files[logs[0]], files[logs[1]] = files[logs[1]], files[logs[0]]
        return rebuilt(got, files)

    def drop_frame_names(sid: str, got: Bundle) -> Bundle:
        files = dict(got.files)
        files.pop(next(n for n in files if n != envelope.HEADER))
        return rebuilt(got, files)

    for attack in (flip, swap_sessions, swap_logs, drop_frame_names):
        status, reason = pull_through(b, Hostile(plain_inner(b), serve=attack), s2.session_id)
        assert status in ("failed", "raised") and "nothing was written" in reason, (attack.__name__, reason)
        assert b.all_files() == before, attack.__name__
    assert b.pull().exit_code == 0  # the honest remote still works


def test_a_replayed_older_version_is_refused_by_a_device_that_saw_a_newer_one(pair):
    a, b, s1, _s2 = joined_pair(pair)
    old = plain_inner(a)
    old.refresh()
    old_entries = old.entries()
    old_bundle = old.fetch(s1.session_id)
    assert b.pull().exit_code == 0
    s1.assistant("one more turn").write()
    assert a.push().exit_code == 0
    assert b.pull().exit_code == 0
    before = b.all_files()
    replay = Hostile(plain_inner(b), serve=lambda sid, got: old_bundle if sid == s1.session_id else got,
                     listing=lambda entries: old_entries)
    status, reason = pull_through(b, replay, s1.session_id)
    assert status in ("failed", "raised") and "rollback" in reason, reason
    assert b.all_files() == before


def test_git_a_host_that_resets_the_branch_is_caught(devices, bare_remote: Path):
    a, b = devices
    s = marker_session(a)
    phrase = init(a)
    assert a.push().exit_code == 0
    assert dev_cli(b, "encryption", "join", stdin=phrase + "\n").returncode == 0
    older = subprocess.run(["git", "rev-parse", "main"], cwd=bare_remote, capture_output=True, text=True).stdout.strip()
    assert b.pull().exit_code == 0
    s.assistant("a later turn").write()
    assert a.push().exit_code == 0
    assert b.pull().exit_code == 0
    before = b.all_files()
    subprocess.run(["git", "update-ref", "refs/heads/main", older], cwd=bare_remote, check=True)
    summary = b.pull()
    assert summary.exit_code != 0 and "rollback" in str(summary.outcomes)
    assert b.all_files() == before


def test_a_stored_key_that_is_not_the_remotes_is_refused_before_anything_is_written(pair):
    a, b, _s1, _s2 = joined_pair(pair)
    credentials.set_key(setup.remote_name(b.config), keys.new_account_key().hex(), b.paths)
    before = b.all_files()
    r = b.cli("pull", "--all")
    assert r.returncode != 0 and "not the key of" in r.stdout + r.stderr, r.stderr
    assert b.all_files() == before


# -- delta sync --------------------------------------------------------------------------


def appended_lines(n_bytes: int, seed: str) -> bytes:
    out, i = [], 0
    while sum(map(len, out)) < n_bytes:
        rec = {"type": "assistant", "uuid": f"{seed}-{i}", "timestamp": f"2026-11-03T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
               "message": {"role": "assistant", "content": [{"type": "text", "text": f"step {i}: edited src/mod_{i}.py, ran the tests"}]}}
        out.append((json.dumps(rec) + "\n").encode())
        i += 1
    return b"".join(out)


def test_an_append_is_sealed_as_one_new_frame_about_the_size_of_its_gzip():
    from claude_sync.format.bundle import Manifest

    key = keys.new_account_key()
    sid = "0b0e5d3c-6a4e-4c39-9a2e-2f1d7c1e0a11"
    base = appended_lines(200_000, "a")
    m = Manifest(session_id=sid, project_key="acme/api", device="alpha", title="t")
    v1 = envelope.seal(Bundle.build(m, {"transcript.jsonl": base}), key, generation=1)
    extra = appended_lines(10_000, "b")
    v2 = envelope.seal(Bundle.build(m, {"transcript.jsonl": base + extra}), key, generation=2, previous=(v1.frames, v1.codec))
    name = next(n for n in v1.bundle.files if n.endswith(".jsonl"))
    old, new = v1.bundle.files[name], v2.bundle.files[name]
    assert new.startswith(old)  # an append stays an append, on both backends
    assert len(new) - len(old) <= 3 * len(gzip.compress(extra))
    assert envelope.open_sealed(v2.bundle, key, max_bytes=10**8).bundle.files["transcript.jsonl"] == base + extra


def test_git_an_append_adds_one_small_segment(devices, bare_remote: Path):
    a, _ = devices
    s = marker_session(a)
    init(a)
    assert a.push().exit_code == 0
    push_an_append(a, s.transcript, bare_remote, appended_lines(10_000, "c"))


def push_an_append(dev: Device, transcript: Path, bare_remote: Path, extra: bytes) -> None:
    """Append `extra` to a transcript, push, and check the remote took it as an append."""
    with transcript.open("ab") as f:
        f.write(extra)
    assert dev.push().exit_code == 0
    assert_one_small_new_segment(bare_remote, extra)


def assert_one_small_new_segment(bare_remote: Path, extra: bytes) -> None:
    """The last commit on the remote added one segment to one sealed log, about the size of `extra` gzip'd,
    and rewrote no log (an append stayed an append)."""
    changed = subprocess.run(["git", "diff-tree", "-r", "-z", "--no-commit-id", "main~1", "main"], cwd=bare_remote,
                             capture_output=True, check=True).stdout.split(b"\0")
    status = {changed[i + 1].decode(): changed[i].split()[-1].decode() for i in range(0, len(changed) - 1, 2)}
    segments = {p: st for p, st in status.items() if "/logs/" in p}
    assert len(segments) == 1, status
    (segment, st), = segments.items()
    assert st == "A" and segment.endswith("/000001"), status
    size = int(subprocess.run(["git", "cat-file", "-s", f"main:{segment}"], cwd=bare_remote,
                              capture_output=True, text=True, check=True).stdout)
    assert size <= 3 * len(gzip.compress(extra))


def test_frames_are_sealed_again_with_the_codec_that_made_them_or_with_zlib():
    """A device re-seals the frames the remote holds to append one, and gets the same bytes only from the
    same compressor: the header records it, a device that has it keeps it, one that has not (the
    extension's bundled client has no ISA-L) rewrites the session with zlib, which every client has."""
    from claude_sync.format.bundle import Manifest

    if envelope.ISAL is None:
        pytest.skip("isal has no wheel here: every client seals with zlib")
    key = keys.new_account_key()
    m = Manifest(session_id="0b0e5d3c-6a4e-4c39-9a2e-2f1d7c1e0a12", project_key="acme/api", device="alpha", title="t")
    base, more, last = appended_lines(200_000, "a"), appended_lines(30_000, "b"), appended_lines(30_000, "c")
    name = envelope._SessionKeys(key, m.session_id).name("transcript.jsonl")

    v1 = envelope.seal(Bundle.build(m, {"transcript.jsonl": base}), key, generation=1)
    assert v1.codec == envelope.ISAL  # a new session: the fastest codec at hand
    assert envelope.open_sealed(v1.bundle, key, max_bytes=10**8).codec == envelope.ISAL  # recorded, sealed

    # A device without ISA-L: the remote's frames cannot come out the same, so it writes them all with zlib.
    assert not envelope.can_reproduce("isal 0.0.1")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(envelope, "ISAL", None)
        opened = envelope.open_sealed(v1.bundle, key, max_bytes=10**8)  # reading never needs the codec
        assert opened.bundle.files["transcript.jsonl"] == base
        v2 = envelope.seal(Bundle.build(m, {"transcript.jsonl": base + more}), key, generation=2,
                           previous=(opened.frames, opened.codec))
    assert v2.codec == envelope.ZLIB and not v2.bundle.files[name].startswith(v1.bundle.files[name][:1000])
    assert v2.frames["transcript.jsonl"] == [len(base), len(more)]

    # Back on a device with ISA-L: the session stays with zlib, so its append is an append again.
    opened = envelope.open_sealed(v2.bundle, key, max_bytes=10**8)
    assert opened.codec == envelope.ZLIB
    v3 = envelope.seal(Bundle.build(m, {"transcript.jsonl": base + more + last}), key, generation=3,
                       previous=(opened.frames, opened.codec))
    assert v3.codec == envelope.ZLIB and v3.bundle.files[name].startswith(v2.bundle.files[name])
    assert envelope.open_sealed(v3.bundle, key, max_bytes=10**8).bundle.files["transcript.jsonl"] == base + more + last

    # A codec this version does not know (a newer client's) is followed by zlib too.
    v4 = envelope.seal(Bundle.build(m, {"transcript.jsonl": base + more}), key, generation=4,
                       previous=(v2.frames, "zstd 9.9"))
    assert v4.codec == envelope.ZLIB and v4.bundle.files[name] == v2.bundle.files[name]


GOLDEN_KEY = hashlib.sha256(b"golden key").digest()
GOLDEN_SID = "0b0e5d3c-6a4e-4c39-9a2e-2f1d7c1e0a14"


def golden_files() -> dict[str, bytes]:
    def lines(n: int, seed: str) -> bytes:
        out, i = [], 0
        while sum(map(len, out)) < n:
            rec = {"type": "user", "uuid": f"{seed}-{i}", "message": {"content": f"line {i} of {seed}"}}
            out.append((json.dumps(rec) + "\n").encode())
            i += 1
        return b"".join(out)

    return {
        "transcript.jsonl": lines(100_000, "a"),
        f"todos/{GOLDEN_SID}-agent-{GOLDEN_SID}.json": lines(3_000, "b"),
        "session/tool-results/big.txt": lines(40_000, "c"),
    }


def sealed_golden(codec: str) -> Bundle:
    """golden_files() sealed with `codec`, as a remote's copy of them in two frames would be sealed again:
    a log of two frames (the first at least 16 KB), a small file (zlib's level 6) and a large one."""
    from claude_sync.format.bundle import Manifest

    files = golden_files()
    m = Manifest(session_id=GOLDEN_SID, project_key="acme/api", device="alpha", title="t")
    frames = {"transcript.jsonl": [60_000, len(files["transcript.jsonl"]) - 60_000]}
    opened = envelope.seal(Bundle.build(m, files), GOLDEN_KEY, generation=1, previous=(frames, codec))
    assert opened.codec == codec
    return opened.bundle


def digests(sealed: Bundle) -> dict[str, str]:
    """Of each sealed file but the header (which records the codec)."""
    return {n: hashlib.sha256(d).hexdigest()[:16] for n, d in sealed.files.items() if n != envelope.HEADER}


def size(sealed: Bundle) -> int:
    return sum(len(d) for n, d in sealed.files.items() if n != envelope.HEADER)


def test_zlib_frames_come_out_as_the_versions_before_sealed_them():
    """Frames a client before the codec was recorded sealed (zlib, the name joined to the payload) are
    sealed to the same bytes by this one (the name now fed to the compressor with the start of the
    payload, not copied in front of all of it): an append to an old session stays an append. Digests
    pinned from that version (7b03972)."""
    assert digests(sealed_golden(envelope.ZLIB)) == {
        "session/e2e/0/0/da29021c011c9182c2d5b832d4fddf": "40d4a686c61084a2",
        "session/e2e/6/c/b8c5725aebb1063031049c4c2261e5.jsonl": "177f02f9cae14930",
        "session/e2e/d/9/0e8164ae07530e7ed416bee39b54f0": "de8d187cf0cb777a",
    }


def test_isal_frames_are_deflated_with_their_name_and_the_first_codec_s_still_come_out_the_same():
    """ISA-L fed a frame's few bytes of name on their own deflates the frame larger: the codec now records
    that they are fed with the payload's start ("isal-joined"). Sessions sealed by the first ISA-L codec
    ("isal", name apart) are sealed again to the very bytes that version made (a8f0ff1, digests pinned for
    the ISA-L it ran with), so their appends stay appends."""
    if envelope.ISAL is None:
        pytest.skip("isal has no wheel here: every client seals with zlib")
    import isal

    joined, split = sealed_golden(envelope.ISAL), sealed_golden(f"isal {isal.ISAL_VERSION}")
    assert envelope.ISAL.startswith("isal-joined ") and envelope.can_reproduce(f"isal {isal.ISAL_VERSION}")
    assert size(joined) < 0.92 * size(split)
    if isal.ISAL_VERSION == "2.32.1":
        assert digests(split) == {
            "session/e2e/0/0/da29021c011c9182c2d5b832d4fddf": "ee37c7a59a838b89",
            "session/e2e/6/c/b8c5725aebb1063031049c4c2261e5.jsonl": "5886233a6586d746",
            "session/e2e/d/9/0e8164ae07530e7ed416bee39b54f0": "23645e0b5b124c25",
        }
    plain = envelope.open_sealed(joined, GOLDEN_KEY, max_bytes=10**8).bundle  # and it reads as any other
    assert plain.files == golden_files()


def test_a_header_from_before_codecs_reads_as_zlib_and_a_malformed_codec_is_refused():
    from claude_sync.format.bundle import Manifest

    key = keys.new_account_key()
    m = Manifest(session_id="0b0e5d3c-6a4e-4c39-9a2e-2f1d7c1e0a13", project_key="acme/api", device="alpha", title="t")
    sealed = envelope.seal(Bundle.build(m, {"transcript.jsonl": appended_lines(40_000, "a")}), key, generation=1).bundle
    sk = envelope._SessionKeys(key, m.session_id)
    header = json.loads(sk.open("header", envelope.HEADER, 0, sealed.files[envelope.HEADER], 10**6))

    def with_header(**change: object) -> Bundle:
        h = {k: v for k, v in {**header, **change}.items() if v is not None}
        files = {**sealed.files, envelope.HEADER: sk.seal("header", envelope.HEADER, 0, json.dumps(h).encode())}
        return Bundle.build(sealed.manifest, files, binary=set(files))

    assert envelope.open_sealed(with_header(codec=None), key, max_bytes=10**8).codec == envelope.ZLIB
    for bad in (7, "", "x" * 65):
        with pytest.raises(envelope.Tampered, match="header .* malformed"):
            envelope.open_sealed(with_header(codec=bad), key, max_bytes=10**8)


def test_git_a_client_without_isal_rewrites_a_log_once_and_appends_stay_appends_after(
    devices, bare_remote: Path, monkeypatch: pytest.MonkeyPatch
):
    """The same case across two devices over Git, with the codec carried in each device's marks."""
    if envelope.ISAL is None:
        pytest.skip("isal has no wheel here: every client seals with zlib")
    a, b = devices
    s = marker_session(a)
    with s.transcript.open("ab") as f:
        f.write(appended_lines(200_000, "a"))
    phrase = init(a)
    assert a.push().exit_code == 0
    push_an_append(a, s.transcript, bare_remote, appended_lines(20_000, "a2"))  # its own ISA-L frames, from its marks
    assert dev_cli(b, "encryption", "join", stdin=phrase + "\n").returncode == 0
    with monkeypatch.context() as mp:
        mp.setattr(envelope, "ISAL", None)
        assert b.pull().exit_code == 0
        placed = b.project_dir(MARKERS["project"] + "/api") / f"{s.session_id}.jsonl"
        with placed.open("ab") as f:
            f.write(appended_lines(20_000, "b"))
        assert b.push().exit_code == 0
    marks = json.loads(next((b.paths.data / "encryption").glob("*.json")).read_text())
    assert marks[s.session_id]["codec"] == envelope.ZLIB

    assert a.pull().exit_code == 0
    push_an_append(a, s.transcript, bare_remote, appended_lines(20_000, "c"))


def test_project_memory_is_sealed_under_a_keyed_id(pair):
    from claude_sync.format.bundle import memory_object_id

    a, b, remote_leaks = pair
    key = MARKERS["project"] + "/api"
    s = marker_session(a)
    memory = a.project_dir(key) / "memory"
    memory.mkdir(parents=True)
    (memory / "MEMORY.md").write_text("remember " + MARKERS["file"] + "\n")
    for dev in (a, b):
        assert dev_cli(dev, "configure", "--sync-memory", key).returncode == 0
        dev.config = dev.config.model_copy(update={"memory_projects": [key]})
    phrase = init(a)
    assert a.push().exit_code == 0
    assert remote_leaks() == []
    inner = plain_inner(a)
    inner.refresh()
    assert memory_object_id(key) not in {e.session_id for e in inner.entries()}  # the unkeyed id would name the project
    assert dev_cli(b, "encryption", "join", stdin=phrase + "\n").returncode == 0
    assert b.pull().exit_code == 0
    assert MARKERS["file"] in (b.project_dir(key) / "memory" / "MEMORY.md").read_text()
    assert (b.project_dir(key) / f"{s.session_id}.jsonl").exists()


def test_a_repository_url_is_sealed_and_selects_through_the_blind_index(pair, tmp_path: Path):
    """Issue #17's privacy rule: the remote URL of a private repository is sealed like a title, and a
    hook's "the sessions of this folder's repository" still finds them (selection happens locally)."""
    from tests.support.repos import git, make_origin

    a, b, remote_leaks = pair
    (tmp_path / "hosting").mkdir()
    origin = make_origin(tmp_path / "hosting", name="zanzibar-marker-project.git")
    clone_a = a.projects / "api"
    git("clone", "-q", str(origin), str(clone_a), cwd=tmp_path)
    s = a.session(str(clone_a)).user("look at main.py").assistant("ok").write()
    phrase = init(a)
    assert a.push().exit_code == 0
    assert remote_leaks() == []  # neither the repository's URL nor its name
    assert dev_cli(b, "encryption", "join", stdin=phrase + "\n").returncode == 0
    clone_b = b.projects / "elsewhere" / "copy-2"
    git("clone", "-q", str(origin), str(clone_b), cwd=tmp_path)
    pulled = b.pull(project=str(clone_b))  # what the SessionStart hook asks for: this folder's sessions
    assert pulled.exit_code == 0 and [o.session_id for o in pulled.outcomes] == [s.session_id], pulled.outcomes
    listed = b.cli_json("remote")
    assert listed[0]["project_kind"] == "repository" and listed[0]["project_name"] == "zanzibar-marker-project"
    placed = b.project_dir(str(clone_b)) / f"{s.session_id}.jsonl"
    assert str(clone_b) in placed.read_text() and str(clone_a) not in placed.read_text()


def pull_over_wire(dev: Device, server, wire):  # type: ignore[no-untyped-def]
    """`pull --all` on `dev` through the encryption layer, over a recording (or tampering) transport."""
    engine = dev.engine(setup.wrap(server.backend(transport=wire), dev.config, dev.paths))
    try:
        return engine.pull(Selection(all=True))
    finally:
        engine.close()


def test_a_pull_from_the_server_downloads_only_the_new_sealed_frames(private_sync_server, tmp_path: Path):
    """The device rebuilds the sealed copy it last saw (sealing is deterministic), so the server's
    /delta sends only the new frame of a 10 KB append; the result is still opened and authenticated."""
    import random

    from tests.test_delta import Wire, large_session, words

    a = private_sync_server.device(tmp_path / "machines", "alpha", "code")
    b = private_sync_server.device(tmp_path / "machines", "beta", "code")
    s = large_session(a, 2)
    phrase = init(a)
    assert a.push().exit_code == 0
    assert dev_cli(b, "encryption", "join", stdin=phrase + "\n").returncode == 0
    assert b.pull().exit_code == 0
    before = s.transcript.read_bytes()
    s.user(words(random.Random(3), 10_000)).write()
    appended = s.transcript.read_bytes()[len(before) :]
    assert a.push().exit_code == 0

    wire = Wire()
    summary = pull_over_wire(b, private_sync_server, wire)
    assert [(o.session_id, o.status) for o in summary.outcomes] == [(s.session_id, "done")], summary.outcomes
    downloads = [c[1].rsplit("/", 1)[-1] for c in wire.calls if c[0] == "GET" and c[1].startswith("/api/sessions/")]
    assert downloads == [KEY_RECORD_ID], wire.calls  # the key check, and no whole session
    _, received = wire.bytes_of("POST", "/delta")
    compressed = len(gzip.compress(appended))
    print(f"\nsealed download: appended {len(appended)} B, gzip {compressed} B, answer {received} B")
    assert received <= 3 * compressed + 4096  # the new frame, plus the rewritten header (about 1 KB)
    pulled = b.project_dir("acme/api") / f"{s.session_id}.jsonl"
    assert pulled.read_bytes() == s.transcript.read_bytes().replace(str(a.home).encode(), str(b.home).encode())


def test_a_sealed_delta_that_does_not_verify_falls_back_to_the_whole_download(private_sync_server, tmp_path: Path):
    from tests.test_delta import Wire

    a = private_sync_server.device(tmp_path / "machines", "alpha", "code")
    b = private_sync_server.device(tmp_path / "machines", "beta", "work/projects")
    s = marker_session(a)
    phrase = init(a)
    assert a.push().exit_code == 0
    assert dev_cli(b, "encryption", "join", stdin=phrase + "\n").returncode == 0
    assert b.pull().exit_code == 0
    with s.transcript.open("ab") as f:
        f.write(appended_lines(10_000, "d"))
    assert a.push().exit_code == 0

    def damage(body: bytes) -> bytes:  # one bit of the gzip'd answer: the delta cannot verify
        out = bytearray(body)
        out[len(out) // 2] ^= 0x01
        return bytes(out)

    wire = Wire(tamper=damage)
    summary = pull_over_wire(b, private_sync_server, wire)
    assert [(o.session_id, o.status) for o in summary.outcomes] == [(s.session_id, "done")], summary.outcomes
    assert ("POST", "/api/sessions/{id}/delta", 200) in wire.routes()
    assert any(r[0] == "GET" and r[1].startswith("/api/sessions/") for r in wire.routes()), wire.routes()
    pulled = b.project_dir(MARKERS["project"] + "/api") / f"{s.session_id}.jsonl"
    assert MARKERS["file"] in pulled.read_text() and "step 1:" in pulled.read_text()


def test_init_prints_the_phrase_even_when_sealing_what_the_remote_holds_fails(devices, bare_remote: Path, tmp_path: Path):
    """Once the key record is on the remote, the phrase is the only way in: a plain session that
    cannot be sealed (tampered with on the host) is an error beside the phrase, never instead of it."""
    a, b = devices
    marker_session(a)
    assert a.push().exit_code == 0
    work = tmp_path / "tamper"
    subprocess.run(["git", "clone", "-q", str(bare_remote), str(work)], check=True)
    log = next(p for p in (work / "sessions").rglob("*") if p.is_file() and "/logs/" in p.as_posix())
    log.write_bytes(log.read_bytes() + b'{"type":"user","message":{"role":"user","content":"injected"}}\n')
    for args in (["-c", "user.name=m", "-c", "user.email=m@m", "commit", "-qam", "tamper"], ["push", "-q", "origin", "HEAD"]):
        subprocess.run(["git", *args], cwd=work, check=True)
    r = dev_cli(a, "encryption", "init")
    assert r.returncode == 1 and "could not be sealed yet" in r.stderr, r.stdout + r.stderr
    phrase = r.stdout.strip().splitlines()[-1]
    assert len(phrase.split()) == 24
    st = json.loads(dev_cli(a, "encryption", "status", "--json").stdout)
    assert st["encrypted"] and st["joined"]
    shown = dev_cli(a, "encryption", "show-phrase", stdin="y\n")
    assert shown.stdout.strip().splitlines()[-1] == phrase
    assert dev_cli(b, "encryption", "join", stdin=phrase + "\n").returncode == 0


def test_a_frame_is_opened_only_when_its_plaintext_is_well_formed():
    """What authenticates can still be malformed (a buggy or hostile client holding the key): a length past
    the plaintext, padding that is not zeros, a stream that is not zlib or does not end, or one that inflates
    past the limit. Each is refused, whichever inflater this device has."""
    import struct

    sk = envelope._SessionKeys(keys.new_account_key(), "0b0e5d3c-6a4e-4c39-9a2e-2f1d7c1e0a15")
    name = sk.name("transcript.jsonl")

    def opened(plaintext: bytes, max_bytes: int = 10**6) -> bytes:  # a frame around a plaintext of our making
        return sk.open("log", name, 0, sk.encrypt("log", name, 0, plaintext), max_bytes)

    stream = zlib.compress(b'{"a": 1}\n' * 1000)
    good = struct.pack(">I", len(stream)) + stream + bytes(20)
    assert opened(good) == b'{"a": 1}\n' * 1000
    assert sk.open("log", name, 0, sk.seal("log", name, 0, b"x" * 5000, envelope.ISAL or envelope.ZLIB), 10**6) == b"x" * 5000
    bad = {
        "length past the plaintext": struct.pack(">I", len(stream) + 21) + stream + bytes(20),
        "padding not zeros": good[:-1] + b"\x01",
        "not a zlib stream": struct.pack(">I", 6) + b"junk!!" + bytes(4),
        "a stream that does not end": struct.pack(">I", len(stream) - 3) + stream[:-3] + bytes(3),
    }
    for why, plaintext in bad.items():
        with pytest.raises(envelope.Tampered, match="malformed"):
            opened(plaintext)
            pytest.fail(why)
    with pytest.raises(BundleError, match="expands past the limit"):
        opened(good, max_bytes=8999)
