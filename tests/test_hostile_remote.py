"""A hostile remote: a Git host that rewrites trees and commits, and a server account (or its disk) in an
attacker's hands. Every attack ends the same way on both backends: that session fails with a clear reason,
`pull --all` exits 1 and still pulls the honest session, nothing is written outside that session's own
files, and every other file of the device stays byte-identical.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import textwrap
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from claude_sync.backends import PushItem, PushResult
from claude_sync.backends.git import SESSION_JSON, session_dir
from claude_sync.format.bundle import Manifest, Spilled, content_digest
from tests.support.devices import REPO, Device
from tests.support.forged import forged_bundle
from tests.support.sync_server import SyncServer

GOOD_LOG = b'{"type":"user","cwd":"${PROJECT_ROOT}","uuid":"u1","timestamp":"2026-11-01T10:00:00.000Z","message":{"role":"user","content":"hi"}}\n'


@dataclass
class Remote:
    """Where the attacker plants a session: straight into the Git repository, or into the server's store."""

    kind: str
    plant: Callable[..., None]
    victim: Device


def _manifest(sid: str, project_key: str = "acme/api") -> Manifest:
    return Manifest(session_id=sid, project_key=project_key, device="mallory", last_modified="2026-11-01T10:00:00.000Z", title="evil")


def _git_plant(repo: Path, tmp: Path) -> Callable[..., None]:
    def plant(
        sid: str,
        files: dict[str, bytes],
        binary: frozenset[str] = frozenset(),
        *,
        header: bytes | None = None,
        digest_of: dict[str, bytes] | None = None,
        folder: str | None = None,
        project_key: str = "acme/api",
        blobs: str | None = None,
        stored: dict[str, bytes] | None = None,
    ) -> None:
        """A commit on main, as a host that controls the repository writes it: the session's folder with
        these files and a session.json whose checksum matches (unless `digest_of` or `header` says otherwise).
        `blobs="gzip"`: the files stored gzip'd, as format 6 stores them, except those `stored` gives as is."""
        base = folder or session_dir(sid)
        if header is None:
            meta = _manifest(sid, project_key).model_dump(mode="json", exclude={"files"})
            meta.update(
                content_sha256=content_digest(digest_of if digest_of is not None else files),
                size=10,  # what the host declares; the real size is what git holds
                binary=sorted(binary),
            )
            if blobs is not None:
                meta["blobs"] = blobs
            header = json.dumps(meta).encode()
        as_stored = {n: gzip.compress(d) if blobs == "gzip" else d for n, d in files.items()}
        as_stored.update(stored or {})
        stream = io.BytesIO()
        w = stream.write
        parent = subprocess.run(["git", "-C", str(repo), "rev-parse", "main"], capture_output=True, text=True).stdout.strip()
        msg = b"hostile\n"
        w(b"commit refs/heads/main\ncommitter m <m@m> 1700000000 +0000\n")
        w(b"data %d\n" % len(msg) + msg)
        if parent:
            w(f"from {parent}\n".encode())

        def put(path: str, data: bytes) -> None:
            w(f'M 100644 inline "{path}"\ndata {len(data)}\n'.encode())
            w(data + b"\n")

        put(f"{base}/{SESSION_JSON}", header)
        for name, data in as_stored.items():
            where = f"{base}/logs/{name}/000000" if name.endswith(".jsonl") else f"{base}/files/{name}"
            put(where, data)
        subprocess.run(["git", "-C", str(repo), "fast-import", "--quiet"], input=stream.getvalue(), check=True)

    return plant


def _server_plant(server: SyncServer) -> Callable[..., None]:
    def plant(
        sid: str, files: dict[str, bytes], binary: frozenset[str] = frozenset(), *, raw: bytes | None = None,
        project_key: str = "acme/api", **_: object,
    ) -> None:
        """A bundle in the server's store that its checks would refuse (a server from before them, or its disk
        in an attacker's hands): the client is the last line of defence."""
        b = forged_bundle(_manifest(sid, project_key), files, binary)
        storage = server.storage()
        upload = storage.new_upload()
        upload.write(raw if raw is not None else b.to_bytes())
        upload.finish()
        storage._store(server.user, b.manifest, upload, base=None, force=True)

    return plant


@pytest.fixture(params=["git", "server"])
def remote(request, tmp_path: Path, bare_remote: Path) -> Remote:  # type: ignore[no-untyped-def]
    """The victim's device, an honest session from alpha on the remote, and the attacker's way in."""
    return _remote(request, request.param, tmp_path, bare_remote)


@pytest.fixture
def git_remote(request, tmp_path: Path, bare_remote: Path) -> Remote:  # type: ignore[no-untyped-def]
    """The same, for attacks on what only the Git backend stores."""
    return _remote(request, "git", tmp_path, bare_remote)


def _remote(request, kind: str, tmp_path: Path, bare_remote: Path) -> Remote:  # type: ignore[no-untyped-def]
    if kind == "git":
        alpha = Device(tmp_path / "machines", "alpha", "code", git_url=str(bare_remote), max_bundle_bytes=1_000_000)
        victim = Device(tmp_path / "machines", "beta", "work", git_url=str(bare_remote), max_bundle_bytes=1_000_000)
        plant = _git_plant(bare_remote, tmp_path)
    else:
        server: SyncServer = request.getfixturevalue("sync_server")
        alpha = server.device(tmp_path / "machines", "alpha", "code", max_bundle_bytes=1_000_000)
        victim = server.device(tmp_path / "machines", "beta", "work", max_bundle_bytes=1_000_000)
        plant = _server_plant(server)
        request.node.server = server
    honest = alpha.session("acme/api").user("honest work").write()
    assert alpha.push().exit_code == 0
    remote = Remote(kind, plant, victim)
    remote.server = getattr(request.node, "server", None)  # type: ignore[attr-defined]
    remote.honest = honest.session_id  # type: ignore[attr-defined]
    # The victim's own session, never pushed: the attacks aim at it.
    remote.own = victim.session("acme/api").user("my own work").write().session_id  # type: ignore[attr-defined]
    return remote


def _snapshot(dev: Device) -> dict[str, bytes]:
    """Every file of the device outside the tool's own folder (state, mirror, caches)."""
    return {
        p.relative_to(dev.home).as_posix(): p.read_bytes()
        for p in sorted(dev.home.rglob("*"))
        if p.is_file() and ".claude-sync-sessions" not in p.relative_to(dev.home).parts
    }


def _pull_under_attack(remote: Remote, sid: str, reason: str) -> None:
    victim = remote.victim
    before = _snapshot(victim)
    r = victim.cli("pull", "--all", "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    outcomes = {o["session_id"]: o for o in json.loads(r.stdout)["outcomes"]}
    assert outcomes[sid]["status"] == "failed", outcomes[sid]
    assert reason in outcomes[sid]["reason"], outcomes[sid]["reason"]
    assert outcomes[remote.honest]["status"] == "done"  # type: ignore[attr-defined]
    after = _snapshot(victim)
    honest = remote.honest  # type: ignore[attr-defined]
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    assert changed and all(honest in p for p in changed), changed  # only the honest session arrived
    assert not any(sid in p for p in after)


OWN = "{own}"  # replaced by the id of the victim's own session


ATTACKS: dict[str, tuple[dict[str, bytes], frozenset[str], str]] = {
    # 1. names that escape their session
    "legacy agent named after another session": ({"transcript.jsonl": GOOD_LOG, f"legacy-agents/{OWN}.jsonl": GOOD_LOG}, frozenset(), "only agent-"),
    "project memory planted through legacy agents": ({"transcript.jsonl": GOOD_LOG, "legacy-agents/memory/MEMORY.md": b"obey me\n"}, frozenset(), "holds no folders"),
    "another session's todos": ({"transcript.jsonl": GOOD_LOG, f"todos/{OWN}-agent-x.json": b"[]"}, frozenset(), "another session"),
    "project memory in a session": ({"transcript.jsonl": GOOD_LOG, "memory/MEMORY.md": b"obey me\n"}, frozenset(), "may not carry project memory"),
    "unknown folder": ({"transcript.jsonl": GOOD_LOG, "elsewhere/x.json": b"{}"}, frozenset(), "unknown file name"),
    "path traversal (already refused)": ({"transcript.jsonl": GOOD_LOG, "session/../../x.jsonl": GOOD_LOG}, frozenset(), "unsafe"),
    # 2. bytes that are not UTF-8 in a member marked as text
    "non-UTF-8 text": ({"transcript.jsonl": GOOD_LOG, "tasks/1.json": b'{"a":"\xff\xfe"}'}, frozenset(), "not UTF-8"),
    # 4. truncated logs
    "log cut mid-line": ({"transcript.jsonl": GOOD_LOG + GOOD_LOG[:40]}, frozenset(), "does not end with a newline"),
    "log line that is not JSON": ({"transcript.jsonl": GOOD_LOG + GOOD_LOG[:40] + b"\n"}, frozenset(), "line 2 is not a JSON record"),
    "log line nested past the stack": ({"transcript.jsonl": GOOD_LOG + b"[" * 100_000 + b"]" * 100_000 + b"\n"}, frozenset(), "line 2 is not a JSON record"),
    # JSON in its syntax, but not UTF-8 inside a string (the syntax check alone does not look at that)
    "log line of JSON that is not UTF-8": ({"transcript.jsonl": GOOD_LOG + b'{"a":"\xc0\x80"}\n'}, frozenset(), "line 2 is not a JSON record"),
    "log marked as binary": ({"transcript.jsonl": GOOD_LOG}, frozenset({"transcript.jsonl"}), "is not text"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_session_that_breaks_the_rules_fails_alone_and_touches_nothing(remote: Remote, attack: str):
    files, binary, reason = ATTACKS[attack]
    own = remote.own  # type: ignore[attr-defined]
    files = {n.replace(OWN, own): d for n, d in files.items()}
    sid = str(uuid.uuid4())
    remote.plant(sid, files, binary)
    _pull_under_attack(remote, sid, reason)


@pytest.mark.parametrize("key", ["acme/line\n\n![x](https://evil.example/p.png)", "acme/tab\there", "acme/\x1b[31mred", "acme/del\x7f"])
def test_a_project_key_with_control_characters_is_refused(remote: Remote, key: str):
    # A key names folders on this device and shows in listings and hovers: no line breaks or escapes.
    sid = str(uuid.uuid4())
    remote.plant(sid, {"transcript.jsonl": GOOD_LOG}, project_key=key)
    _pull_under_attack(remote, sid, "control character")


@pytest.mark.parametrize("attack", ["non-UTF-8 text", "log cut mid-line", "log marked as binary"])
def test_a_session_disguised_as_sealed_on_a_plain_remote_is_refused(remote: Remote, attack: str):
    """Sealed sessions' content is checked only once opened; on a remote that is not encrypted nothing can
    open them, so a host must not skip the content checks by giving a session a sealed-looking project key."""
    files, binary, _reason = ATTACKS[attack]
    sid = str(uuid.uuid4())
    remote.plant(sid, files, binary, project_key="e2e/" + "0" * 64)
    victim = remote.victim
    before = _snapshot(victim)
    r = victim.cli("pull", "--all", "--json")
    assert r.returncode == 0 and "is sealed, and the remote has no key record" in r.stderr, r.stdout + r.stderr
    assert sid not in r.stdout
    r = victim.cli("pull", sid, "--json")  # asked for by name: still not read
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stdout + r.stderr
    after = _snapshot(victim)
    assert not any(sid in p for p in after)
    honest = remote.honest  # type: ignore[attr-defined]
    assert all(honest in p for p in set(after) - set(before))


def test_a_sealed_looking_session_fetched_from_a_plain_remote_is_refused(remote: Remote):
    """The same, one layer down: whatever lists it, a fetch from a remote with no key record refuses it."""
    from claude_sync.encryption.envelope import Tampered
    from claude_sync.encryption.setup import open_sealed

    sid = str(uuid.uuid4())
    remote.plant(sid, {"transcript.jsonl": GOOD_LOG + GOOD_LOG[:40]}, project_key="e2e/" + "0" * 64)
    backend = open_sealed(remote.victim.config, remote.victim.paths)
    try:
        backend.refresh()
        with pytest.raises(Tampered, match="claims to be sealed"):
            backend.fetch(sid)
    finally:
        backend.close()


def test_a_bomb_is_refused_by_its_real_size_before_it_is_read(remote: Remote):
    """3. 20 MB of zeros that compress to 20 KB, declared as 10 bytes; the victim's limit is 1 MB."""
    sid = str(uuid.uuid4())
    files = {"transcript.jsonl": GOOD_LOG, "file-history/big@v1": bytes(20_000_000)}
    remote.plant(sid, files, frozenset({"file-history/big@v1"}))
    _pull_under_attack(remote, sid, "limit of 1000000")


def test_a_corrupt_manifest_fails_its_session_by_name(remote: Remote):
    """5. A session whose manifest does not parse is listed as failed, not skipped silently."""
    sid = str(uuid.uuid4())
    if remote.kind == "git":
        remote.plant(sid, {"transcript.jsonl": GOOD_LOG}, header=b"{not json")
        reason = "cannot be read"
    else:
        raw = io.BytesIO()
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
            info = tarfile.TarInfo("manifest.json")
            info.size = 9
            tar.addfile(info, io.BytesIO(b"{not json"))
        remote.plant(sid, {"transcript.jsonl": GOOD_LOG}, raw=raw.getvalue())
        reason = "manifest is malformed"
    _pull_under_attack(remote, sid, reason)


def test_content_that_does_not_match_its_checksum_is_refused(remote: Remote):
    """Already refused: the host changed a file but not the checksum."""
    sid = str(uuid.uuid4())
    tampered = {"transcript.jsonl": GOOD_LOG.replace(b"hi", b"HI")}
    if remote.kind == "git":
        remote.plant(sid, tampered, digest_of={"transcript.jsonl": GOOD_LOG})
        reason = "does not match its checksum"
    else:
        remote.plant(sid, {"transcript.jsonl": GOOD_LOG})
        server: SyncServer = remote.server  # type: ignore[attr-defined]
        [entry] = [e for e in server.storage().sessions(server.user) if e.session_id == sid]
        blob = server.storage().blob_path(entry.sha256)
        data = bytearray(blob.read_bytes())
        data[len(data) // 2] ^= 1  # the disk changed under the index
        blob.write_bytes(bytes(data))
        reason = "checksum mismatch"
    _pull_under_attack(remote, sid, reason)


def test_a_git_folder_that_holds_another_session_is_refused(remote: Remote):
    """Git only: session.json in one session's folder naming another session (the one it would overwrite)."""
    if remote.kind != "git":
        pytest.skip("the server keys sessions by the manifest it checked")
    sid = str(uuid.uuid4())
    own = remote.own  # type: ignore[attr-defined]
    meta = _manifest(own).model_dump(mode="json", exclude={"files"})
    meta.update(content_sha256=content_digest({"transcript.jsonl": GOOD_LOG}), binary=[])
    remote.plant(sid, {"transcript.jsonl": GOOD_LOG}, header=json.dumps(meta).encode())
    _pull_under_attack(remote, sid, f"names session {own}")


@pytest.mark.parametrize("attack", ["non-UTF-8 text", "log cut mid-line", "log line that is not JSON", "another session's todos"])
def test_gzip_stored_content_gets_the_same_checks_once_inflated(git_remote: Remote, attack: str):
    """Format 6 stores a session's files gzip'd in Git: what they inflate to is checked like plain files."""
    remote = git_remote
    files, binary, reason = ATTACKS[attack]
    files = {n.replace(OWN, remote.own): d for n, d in files.items()}  # type: ignore[attr-defined]
    sid = str(uuid.uuid4())
    remote.plant(sid, files, binary, blobs="gzip")
    _pull_under_attack(remote, sid, reason)


def _gzip_member_with_bad_crc(data: bytes) -> bytes:
    member = bytearray(gzip.compress(data))
    member[-8] ^= 0xFF  # the CRC-32 in the trailer
    return bytes(member)


GZIP_ATTACKS: dict[str, tuple[bytes | None, str]] = {
    # what the host stores as transcript.jsonl/000000 in a session whose session.json says gzip
    "plain bytes": (GOOD_LOG, "not a valid gzip stream"),
    "cut short": (gzip.compress(GOOD_LOG * 50)[:-30], "cut short"),
    "bytes after the member": (gzip.compress(GOOD_LOG) + b"trailing", "after the end of its compressed stream"),
    "a second member": (gzip.compress(GOOD_LOG) + gzip.compress(GOOD_LOG), "after the end of its compressed stream"),
    "wrong CRC": (_gzip_member_with_bad_crc(GOOD_LOG), "not a valid gzip stream"),
    # 200 MB of newlines-free zeros in 200 KB, declared small: stopped at the victim's 1 MB limit, not inflated whole
    "a bomb": (gzip.compress(bytes(200_000_000), 9), "inflates to more than 1000000 bytes"),
    "an encoding this claude-sync does not know": (None, "cannot read (upgrade it?)"),
}


@pytest.mark.parametrize("attack", list(GZIP_ATTACKS))
def test_a_gzip_stored_session_that_does_not_inflate_cleanly_is_refused(git_remote: Remote, attack: str):
    remote = git_remote
    stored, reason = GZIP_ATTACKS[attack]
    sid = str(uuid.uuid4())
    if stored is None:
        remote.plant(sid, {"transcript.jsonl": GOOD_LOG}, blobs="zstd", stored={"transcript.jsonl": GOOD_LOG})
    else:
        remote.plant(sid, {"transcript.jsonl": GOOD_LOG}, blobs="gzip", stored={"transcript.jsonl": stored})
    _pull_under_attack(remote, sid, reason)


@pytest.mark.parametrize("attack", [a for a in ATTACKS if "already" not in a])
def test_the_server_refuses_what_it_can_read(sync_server: SyncServer, attack: str):
    """The same bundles pushed by a hostile account never reach the store (the server reads content)."""
    files, binary, reason = ATTACKS[attack]
    sid = str(uuid.uuid4())
    files = {n.replace(OWN, str(uuid.uuid4())): d for n, d in files.items()}
    data = forged_bundle(_manifest(sid), files, binary).to_bytes()
    with sync_server.client() as c:
        r = c.post("/api/sessions/push", content=data, headers={"X-Bundle-SHA256": hashlib.sha256(data).hexdigest()})
        assert r.status_code == 422 and reason in r.json()["detail"], r.text
        assert c.get("/api/sessions").json()["sessions"] == []


# -- memory: a pull streams what it cannot hold -------------------------------------------------

_PEAK_RSS = textwrap.dedent(
    """
    import resource, subprocess, sys
    r = subprocess.run(sys.argv[1:], capture_output=True, text=True)
    sys.stderr.write(r.stderr)
    print(r.stdout)
    print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)  # KB: the largest of the pull and its git processes
    """
)


def _pull_all_within(victim: Device, budget: int) -> None:
    """`claude-sync pull --all` on the device succeeds with a peak RSS (of it and its git processes) under budget."""
    r = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, sys.executable, "-m", "claude_sync", "pull", "--all", "--json"],
        env=victim.env(), cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    *out, peak_kb = r.stdout.strip().splitlines()
    summary = json.loads("\n".join(out))
    assert summary["failed"] == 0, summary
    assert int(peak_kb) * 1024 < budget, f"peak RSS {int(peak_kb) // 1024} MB"


def _blob_from_file(repo: Path, path: Path) -> str:
    return subprocess.run(["git", "-C", str(repo), "hash-object", "-w", str(path)], check=True, capture_output=True, text=True).stdout.strip()


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def test_a_pull_of_a_session_larger_than_its_memory_budget_streams_it(tmp_path: Path, bare_remote: Path):
    """3. 300 MB of zeros that git stores in a few hundred KB and the host declares as 10 bytes, and a
    120 MB transcript (three times that if held whole to render it): pulled onto a new device with the
    pull's own memory under 200 MB."""
    alpha = Device(tmp_path / "machines", "alpha", "code", git_url=str(bare_remote))
    victim = Device(tmp_path / "machines", "beta", "work", git_url=str(bare_remote))
    alpha.session("acme/api").user("honest").write()
    assert alpha.push().exit_code == 0
    sid = str(uuid.uuid4())
    zeros = tmp_path / "zeros"
    with open(zeros, "wb") as f:
        f.truncate(300 * 1024 * 1024)
    log = tmp_path / "log"
    line = b'{"type":"user","cwd":"${PROJECT_ROOT}","message":"' + b"x" * 1000 + b'"}\n'
    with open(log, "wb") as f:
        for _ in range(120):
            f.write(line * 1000)
    files = {"transcript.jsonl": log, "file-history/big@v1": zeros}
    blobs = {n: _blob_from_file(bare_remote, p) for n, p in files.items()}
    spilled = {n: Spilled(p, p.stat().st_size, _file_sha256(p)) for n, p in files.items()}
    meta = _manifest(sid).model_dump(mode="json", exclude={"files"})
    meta.update(content_sha256=content_digest(spilled), size=10, binary=["file-history/big@v1"])
    header = json.dumps(meta).encode()
    parent = subprocess.run(["git", "-C", str(bare_remote), "rev-parse", "main"], capture_output=True, text=True).stdout.strip()
    base = session_dir(sid)
    stream = b"commit refs/heads/main\ncommitter m <m@m> 1700000000 +0000\ndata 5\nhuge\n"
    stream += f"from {parent}\n".encode()
    stream += f"M 100644 {blobs['transcript.jsonl']} {base}/logs/transcript.jsonl/000000\n".encode()
    stream += f"M 100644 {blobs['file-history/big@v1']} {base}/files/file-history/big@v1\n".encode()
    stream += f"M 100644 inline {base}/{SESSION_JSON}\ndata {len(header)}\n".encode() + header + b"\n"
    subprocess.run(["git", "-C", str(bare_remote), "fast-import", "--quiet"], input=stream, check=True)

    # The remote is a local path, so the host's own git (upload-pack) runs as a child of the pull and
    # counts in its peak: give the host the streaming setting a server's git would have for big files.
    subprocess.run(["git", "-C", str(bare_remote), "config", "core.bigFileThreshold", "16m"], check=True)
    _pull_all_within(victim, 200 * 1024 * 1024)
    placed = victim.paths.claude / "file-history" / sid / "big@v1"
    assert placed.stat().st_size == 300 * 1024 * 1024
    [entry] = [e for e in json.loads(victim.cli("remote", "--json").stdout) if e["session_id"] == sid]
    assert entry["size"] == 300 * 1024 * 1024 + 120 * 1000 * len(line)  # the real size, not the declared 10 B
    transcript = next((victim.paths.claude / "projects").glob(f"*/{sid}.jsonl"))
    assert transcript.stat().st_size > 120 * 1000 * len(line)  # ${PROJECT_ROOT} became this device's path
    with open(transcript, "rb") as f:
        assert str(victim.projects / "acme" / "api").encode() in f.readline()


def test_a_pull_from_the_server_of_a_session_larger_than_its_memory_budget_streams_it(
    tmp_path: Path, sync_server: SyncServer
):
    """3b. The same session from the sync server: 300 MB of zeros and a 120 MB transcript travel as a
    bundle of a few MB (it unpacks past every in-memory limit); pulled with the pull's memory under
    200 MB, as from Git."""
    alpha = sync_server.device(tmp_path / "machines", "alpha", "code")
    victim = sync_server.device(tmp_path / "machines", "beta", "work")
    s = alpha.session("acme/api").user("honest").write()
    line = json.dumps({"type": "user", "cwd": alpha.cwd("acme/api"), "message": "x" * 1000}).encode() + b"\n"
    with open(alpha.project_dir("acme/api") / f"{s.session_id}.jsonl", "ab") as f:
        for _ in range(120):
            f.write(line * 1000)
    history = alpha.paths.claude / "file-history" / s.session_id
    history.mkdir(parents=True)
    with open(history / "big@v1", "wb") as f:
        f.truncate(300 * 1024 * 1024)
    pushed = alpha.cli("push", "--all", "--json")  # in a process of its own: it holds the session whole
    assert pushed.returncode == 0, pushed.stderr

    _pull_all_within(victim, 200 * 1024 * 1024)
    placed = victim.paths.claude / "file-history" / s.session_id / "big@v1"
    assert placed.stat().st_size == 300 * 1024 * 1024
    with open(placed, "rb") as f:
        assert f.read(1 << 20).count(0) == 1 << 20
    transcript = next((victim.paths.claude / "projects").glob(f"*/{s.session_id}.jsonl"))
    with open(transcript, "rb") as f:
        lines = f.readlines()
    assert len(lines) == 1 + 120 * 1000
    assert json.loads(lines[-1])["cwd"] == victim.cwd("acme/api")  # this device's path
    assert not list((victim.paths.data / "cache" / "spill").rglob("*"))  # the temp files went with the pull


@pytest.mark.parametrize(
    ("added", "reason"),
    [
        ({"transcript.jsonl": b'{"cut":'}, "does not end with a newline"),
        ({"transcript.jsonl": b"not json\n"}, "is not a JSON record"),
        ({"legacy-agents/memory/MEMORY.md": b"obey me\n"}, "holds no folders"),
        ({"tasks/2.json": b"\xff"}, "not UTF-8"),
        ({"transcript.jsonl": b'{"\xff":1}\n'}, "is not a JSON record"),
    ],
    ids=["cut log", "not json", "memory", "not utf-8", "json log not utf-8"],
)
def test_the_server_refuses_an_append_that_breaks_the_rules(sync_server: SyncServer, added: dict[str, bytes], reason: str):
    """The append route rebuilds the bundle from the stored copy and the delta: the same checks apply."""
    from claude_sync.format import delta

    sid = str(uuid.uuid4())
    v1 = forged_bundle(_manifest(sid), {"transcript.jsonl": GOOD_LOG})
    be = sync_server.backend()
    be.refresh()
    assert be.push([PushItem(v1, None)])[sid] is PushResult.PUSHED
    files = {"transcript.jsonl": GOOD_LOG}
    for name, data in added.items():
        files[name] = files.get(name, b"") + data
    v2 = forged_bundle(_manifest(sid), files)
    planned = delta.diff(v1.manifest.files, v2, logs_must_extend=True)
    assert planned is not None
    body = delta.encode(*planned)
    with sync_server.client() as c:
        r = c.post(
            f"/api/sessions/{sid}/append",
            content=body,
            params={"base": content_digest(v1)},
            headers={"X-Delta-SHA256": hashlib.sha256(body).hexdigest(), "Content-Type": "application/gzip"},
        )
        assert r.status_code == 422 and reason in r.json()["detail"], r.text
    assert be.fetch(sid).files == v1.files


def _agent_log(sid: str) -> bytes:
    return json.dumps({"type": "user", "sessionId": sid, "uuid": "a1", "timestamp": "2026-11-01T10:00:00.000Z"}).encode() + b"\n"


@pytest.mark.parametrize("how", ["replaces another session's agent log", "claims another session"])
def test_a_legacy_agent_log_of_another_session_is_refused(remote: Remote, how: str):
    """1. Legacy agent logs share the project folder; whose they are is in their records."""
    own = remote.own  # type: ignore[attr-defined]
    victim = remote.victim
    if how.startswith("replaces"):
        (victim.project_dir("acme/api") / "agent-0a1b2c3d.jsonl").write_bytes(_agent_log(own))
    sid = str(uuid.uuid4())
    carried = _agent_log(own if how.startswith("claims") else sid)
    remote.plant(sid, {"transcript.jsonl": GOOD_LOG, "legacy-agents/agent-0a1b2c3d.jsonl": carried})
    _pull_under_attack(remote, sid, f"is a log of session {own}")


def test_huge_session_json_files_are_listed_within_bounded_memory(git_remote: Remote):
    """Git only: the host writes session.json files of many MB (a title of 12 MB compresses to 12 KB).
    The listing reads them in batches of a bounded size and keeps a title's first thousand characters;
    one past the size any session.json has is listed as unreadable without being read."""
    from bench.measure import run_rusage

    huge = []
    for _ in range(12):
        sid = str(uuid.uuid4())
        meta = _manifest(sid).model_dump(mode="json", exclude={"files"})
        meta.update(content_sha256=content_digest({"transcript.jsonl": GOOD_LOG}), size=10, binary=[], title="t" * 12_000_000)
        git_remote.plant(sid, {"transcript.jsonl": GOOD_LOG}, header=json.dumps(meta).encode())
        huge.append(sid)
    too_large = str(uuid.uuid4())
    git_remote.plant(too_large, {"transcript.jsonl": GOOD_LOG}, header=b'{"title": "' + b" " * 40_000_000 + b'"}')
    victim = git_remote.victim
    with open(victim.home.parent / "remote.json", "w") as out:
        code, _cpu, peak_kb = run_rusage(
            [sys.executable, "-m", "claude_sync", "remote", "--json"], env=victim.env(), cwd=REPO, stdout=out
        )
    assert code == 0
    entries = {e["session_id"]: e for e in json.loads((victim.home.parent / "remote.json").read_text())}
    assert set(huge) <= set(entries) and git_remote.honest in entries  # type: ignore[attr-defined]
    assert all(len(entries[sid]["title"]) <= 1000 for sid in huge)
    assert too_large not in entries
    assert peak_kb < 400_000, f"peak RSS {peak_kb // 1024} MB"  # 184 MB of session.json files: 637 MB before
    r = victim.cli("pull", "--all", "--json")
    outcomes = {o["session_id"]: o for o in json.loads(r.stdout)["outcomes"]}
    assert outcomes[too_large]["status"] == "failed" and "more than any session's" in outcomes[too_large]["reason"]
    assert all(outcomes[sid]["status"] == "done" for sid in huge)


def test_the_server_refuses_a_project_key_with_control_characters(sync_server: SyncServer):
    """The pusher hears it at once, rather than every other device at its next pull."""
    sid = str(uuid.uuid4())
    data = forged_bundle(_manifest(sid, "acme/\x1b[31mred"), {"transcript.jsonl": GOOD_LOG}, frozenset()).to_bytes()
    with sync_server.client() as c:
        r = c.post("/api/sessions/push", content=data, headers={"X-Bundle-SHA256": hashlib.sha256(data).hexdigest()})
        assert r.status_code == 422 and "control character" in r.json()["detail"], r.text
        assert c.get("/api/sessions").json()["sessions"] == []
