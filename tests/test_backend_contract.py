"""One contract for every backend: the Git backend (local bare repo) and the HTTP backend (real server).

Each test talks to one remote through two backend instances, as two devices would.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from claude_sync.backends import Backend, PushItem, PushResult
from claude_sync.backends.git import GitBackend
from claude_sync.format.bundle import Bundle, Manifest, content_digest
from claude_sync.format.errors import SessionNotFound

pytest_plugins = ["tests.support.sync_server"]

Factory = Callable[[str], Backend]


@pytest.fixture(params=["git", "http"])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Factory:
    """A factory of backends on one fresh remote: remote(device) -> Backend."""
    opened: list[Backend] = []
    counter = itertools.count()
    if request.param == "git":
        url = str(request.getfixturevalue("bare_remote"))

        def make(device: str) -> Backend:
            b = GitBackend(url, tmp_path / f"mirror-{device}-{next(counter)}", device=device)
            opened.append(b)
            return b
    else:
        server = request.getfixturevalue("sync_server")

        def make(device: str) -> Backend:
            b = server.backend()
            opened.append(b)
            return b

    yield make  # type: ignore[misc]
    for b in opened:
        b.close()


def bundle(
    sid: str | None = None, *, device: str = "alpha", transcript: bytes = b'{"n":1}\n', **files: bytes
) -> Bundle:
    sid = sid or str(uuid.uuid4())
    manifest = Manifest(
        session_id=sid,
        project_key="acme/api",
        device=device,
        last_modified="2026-11-01T10:00:00.000Z",
        title="Fix the ${PROJECT_ROOT}/api tests",
        message_count=3,
    )
    content = {"transcript.jsonl": transcript, **{k.replace("__", "/"): v for k, v in files.items()}}
    return Bundle.build(manifest, content, binary={n for n in content if n.endswith(".bin")})


def test_an_empty_remote_lists_nothing(remote: Factory):
    b = remote("alpha")
    b.refresh()
    assert b.entries() == []


def test_a_pushed_session_is_listed_with_its_manifest_fields(remote: Factory):
    a = remote("alpha")
    a.refresh()
    v1 = bundle(device="alpha")
    assert a.push([PushItem(v1, None)]) == {v1.session_id: PushResult.PUSHED}
    other = remote("beta")
    other.refresh()
    [entry] = other.entries()
    assert entry.session_id == v1.session_id
    assert entry.project_key == "acme/api"
    assert entry.device == "alpha"
    assert entry.title == "Fix the ${PROJECT_ROOT}/api tests"
    assert entry.message_count == 3
    assert entry.last_modified == "2026-11-01T10:00:00.000Z"
    assert entry.content_sha256 == content_digest(v1)
    assert entry.size > 0


def test_fetch_returns_every_file_byte_for_byte(remote: Factory):
    a = remote("alpha")
    a.refresh()
    v1 = bundle(
        transcript=b'{"cwd":"${PROJECT_ROOT}/api"}\n' * 50,
        session__subagents__agent_x__jsonl=b'{"agent":1}\n',
        tasks__one__json=b'{"id":"1"}',
        **{"file-history__abc@v1.bin": bytes(range(256))},
    )
    a.push([PushItem(v1, None)])
    b = remote("beta")
    b.refresh()
    got = b.fetch(v1.session_id)
    assert got.files == v1.files
    assert {e.path: e.text for e in got.manifest.files} == {e.path: e.text for e in v1.manifest.files}
    assert content_digest(got) == content_digest(v1)


def test_push_on_a_stale_base_is_a_conflict_and_keeps_the_remote_copy(remote: Factory):
    a, b = remote("alpha"), remote("beta")
    a.refresh()
    b.refresh()
    sid = str(uuid.uuid4())
    v1 = bundle(sid, device="alpha")
    assert a.push([PushItem(v1, None)])[sid] is PushResult.PUSHED
    # beta has not seen v1 and believes the session is new
    v2 = bundle(sid, device="beta", transcript=b'{"n":2}\n')
    assert b.push([PushItem(v2, None)])[sid] is PushResult.CONFLICT
    # after the conflict beta's view shows what the remote holds, so the engine can decide again
    assert {e.session_id: e.content_sha256 for e in b.entries()} == {sid: content_digest(v1)}
    # a push based on a version the remote no longer holds is a conflict too
    v3 = bundle(sid, device="alpha", transcript=b'{"n":1}\n{"n":3}\n')
    assert b.push([PushItem(v3, content_digest(v2))])[sid] is PushResult.CONFLICT
    c = remote("gamma")
    c.refresh()
    assert c.fetch(sid).files == v1.files


def test_push_on_the_current_base_replaces_the_copy(remote: Factory):
    a = remote("alpha")
    a.refresh()
    sid = str(uuid.uuid4())
    v1 = bundle(sid)
    a.push([PushItem(v1, None)])
    v2 = bundle(sid, device="beta", transcript=b'{"n":1}\n{"n":2}\n')
    assert a.push([PushItem(v2, content_digest(v1))])[sid] is PushResult.PUSHED
    b = remote("beta")
    b.refresh()
    [entry] = b.entries()
    assert entry.content_sha256 == content_digest(v2) and entry.device == "beta"
    assert b.fetch(sid).files == v2.files


def test_pushing_identical_content_again_changes_nothing(remote: Factory):
    a = remote("alpha")
    a.refresh()
    v1 = bundle()
    a.push([PushItem(v1, None)])
    before = remote("beta")
    before.refresh()
    [entry_before] = before.entries()
    assert a.push([PushItem(v1, content_digest(v1))])[v1.session_id] is PushResult.PUSHED
    after = remote("gamma")
    after.refresh()
    [entry_after] = after.entries()
    assert entry_after.content_sha256 == entry_before.content_sha256
    assert entry_after.last_modified == entry_before.last_modified
    assert after.fetch(v1.session_id).files == v1.files


def test_several_sessions_go_in_one_push(remote: Factory):
    a = remote("alpha")
    a.refresh()
    bundles = [bundle(transcript=f'{{"n":{i}}}\n'.encode()) for i in range(5)]
    results = a.push([PushItem(b, None) for b in bundles])
    assert results == {b.session_id: PushResult.PUSHED for b in bundles}
    other = remote("beta")
    other.refresh()
    assert sorted(e.session_id for e in other.entries()) == sorted(b.session_id for b in bundles)


def test_fetching_an_unknown_session_raises_not_found(remote: Factory):
    a = remote("alpha")
    a.refresh()
    a.push([PushItem(bundle(), None)])
    with pytest.raises(SessionNotFound):
        a.fetch(str(uuid.uuid4()))


def test_a_refresh_brings_another_devices_pushes(remote: Factory):
    a, b = remote("alpha"), remote("beta")
    a.refresh()
    b.refresh()
    assert b.entries() == []
    v1 = bundle()
    a.push([PushItem(v1, None)])
    b.refresh()
    assert [e.session_id for e in b.entries()] == [v1.session_id]


def test_a_forced_push_replaces_a_longer_copy_but_still_respects_the_base(remote: Factory):
    a = remote("alpha")
    a.refresh()
    sid = str(uuid.uuid4())
    long = bundle(sid, transcript=b'{"n":1}\n{"n":2}\n{"n":3}\n')
    short = bundle(sid, transcript=b'{"n":1}\n')
    a.push([PushItem(long, None)])
    assert a.push([PushItem(short, None, force=True)])[sid] is PushResult.CONFLICT
    assert a.push([PushItem(short, content_digest(long), force=True)])[sid] is PushResult.PUSHED
    b = remote("beta")
    b.refresh()
    assert b.fetch(sid).files == short.files


def test_fetching_with_an_older_or_other_copy_at_hand_gives_the_same_version(remote: Factory):
    a = remote("alpha")
    a.refresh()
    sid = str(uuid.uuid4())
    v1 = bundle(sid, transcript=b'{"n":1}\n', tasks__one__json=b'{"id":"1"}')
    v2 = bundle(
        sid,
        transcript=b'{"n":1}\n{"n":2}\n',
        tasks__two__json=b'{"id":"2"}',
        **{"file-history__abc@v1.bin": bytes(range(256))},
    )
    a.push([PushItem(v1, None)])
    a.push([PushItem(v2, content_digest(v1))])
    b = remote("beta")
    b.refresh()
    longer = bundle(sid, transcript=b'{"n":1}\n{"n":2}\n{"n":3}\n')
    for have in (v1, v2, longer, bundle(sid, transcript=b'{"other":1}\n')):
        got = b.fetch(sid, have=have)
        assert got.files == v2.files
        assert {e.path: e.text for e in got.manifest.files} == {e.path: e.text for e in v2.manifest.files}
        assert content_digest(got) == content_digest(v2)


def test_a_push_that_extends_the_remote_copy_stores_exactly_the_new_version(remote: Factory):
    a = remote("alpha")
    a.refresh()
    sid = str(uuid.uuid4())
    v1 = bundle(sid, transcript=b'{"n":1}\n', session__agent__jsonl=b'{"a":1}\n', tasks__one__json=b"1")
    a.push([PushItem(v1, None)])
    b = remote("beta")
    b.refresh()
    v2 = bundle(
        sid,
        device="beta",
        transcript=b'{"n":1}\n{"n":2}\n',
        session__agent__jsonl=b'{"a":1}\n{"a":2}\n',
        tasks__two__json=b"2",
    )
    v2.manifest.title, v2.manifest.message_count = "Renamed", 4
    assert b.push([PushItem(v2, content_digest(v1))])[sid] is PushResult.PUSHED
    c = remote("gamma")
    c.refresh()
    [entry] = c.entries()
    assert (entry.device, entry.title, entry.message_count) == ("beta", "Renamed", 4)
    assert entry.content_sha256 == content_digest(v2)
    got = c.fetch(sid)
    assert got.files == v2.files and got.manifest.title == "Renamed"


def test_the_same_content_under_a_new_project_key_is_stored_under_the_same_id(remote: Factory):
    """Re-keying (issue #17): a session's manifest changes key, its content does not; no duplicate."""
    a = remote("alpha")
    a.refresh()
    v1 = bundle()
    a.push([PushItem(v1, None)])
    rekeyed = Bundle.build(
        v1.manifest.model_copy(update={"project_key": "git:github.com/acme/api"}), dict(v1.files)
    )
    assert content_digest(rekeyed) == content_digest(v1)
    assert a.push([PushItem(rekeyed, content_digest(v1))]) == {v1.session_id: PushResult.PUSHED}
    other = remote("beta")
    other.refresh()
    [entry] = other.entries()
    assert entry.session_id == v1.session_id and entry.project_key == "git:github.com/acme/api"
    assert other.fetch(v1.session_id).manifest.project_key == "git:github.com/acme/api"
