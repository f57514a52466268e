"""A fork travels with its parent: the parent as its own session, listed as a dependency.

The pointer record is the one the 2.1.332 binary writes for a fork that does not copy its
parent's conversation (``fork-context-ref``, filled in from the parent when read);
``forkedFrom`` marks branched messages.
"""

from __future__ import annotations

import json

from claude_sync.forks import parents_in, session_ids, with_parents
from tests.support.devices import Device

P = "11111111-2222-4333-8444-555555555555"
C = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"


def pointer(parent: str, child: str) -> dict:
    return {
        "type": "fork-context-ref",
        "agentId": None,
        "parentSessionId": parent,
        "parentLastUuid": "0c0c0c0c-0000-4000-8000-000000000000",
        "contextLength": 2,
        "sessionId": child,
    }


def fork_of(device: Device, parent_id: str, key: str = "acme/api"):  # type: ignore[no-untyped-def]
    child = device.session(key)
    child.records.append(pointer(parent_id, child.session_id))
    return child.user("go on from the parent").assistant("continuing").write()


def test_parents_are_read_from_pointer_records_and_forked_messages():
    lines = [
        json.dumps(pointer(P, C), separators=(",", ":")),
        json.dumps({"type": "user", "sessionId": C, "forkedFrom": {"sessionId": P.upper(), "messageUuid": "x"}}, separators=(",", ":")),
        json.dumps({"type": "user", "sessionId": C, "forkedFrom": {"sessionId": C, "messageUuid": "y"}}, separators=(",", ":")),
    ]
    assert parents_in("\n".join(lines).encode(), C) == {P}
    assert parents_in(b'{"type":"user","text":"parentSessionId"}', C) == set()


def test_ancestors_come_first_and_cycles_end():
    assert with_parents(["c"], {"c": {"b"}, "b": {"a"}}) == ["a", "b", "c"]
    assert with_parents(["c", "b"], {"c": {"b"}, "b": {"c"}}) == ["b", "c"]


def test_session_ids_from_a_remote_manifest_are_checked():
    assert session_ids([P, "../../etc", 3, None, C.upper()]) == sorted([P, C])


def test_pushing_a_fork_pushes_its_parent_and_pulling_it_brings_both(devices):
    a, b = devices
    parent = a.rich_session("acme/api")
    a.rich_session("acme/web")  # not related: stays behind
    child = fork_of(a, parent.session_id)

    pushed = a.push(child.session_id[:8])
    assert [(o.session_id, o.status) for o in pushed.outcomes] == [(parent.session_id, "done"), (child.session_id, "done")]

    pulled = b.pull(child.session_id)
    assert {o.session_id: o.status for o in pulled.outcomes} == {child.session_id: "done", parent.session_id: "done"}
    [c_out] = [o for o in pulled.outcomes if o.session_id == child.session_id]
    assert c_out.depends_on == [parent.session_id]
    folder = b.project_dir("acme/api")
    assert (folder / f"{parent.session_id}.jsonl").is_file()
    assert f'"parentSessionId":"{parent.session_id}"' in (folder / f"{child.session_id}.jsonl").read_text()
    assert len(list(b.paths.claude.glob("projects/*/*.jsonl"))) == 2  # acme/web was not asked for


def test_a_fork_whose_parent_is_not_on_the_remote_is_pulled_and_says_so(devices, tmp_path):
    a, b = devices
    child = fork_of(a, P)  # its parent never existed on this device
    assert a.push(child.session_id).exit_code == 0
    [out] = b.pull(child.session_id).outcomes
    assert out.status == "done" and P in out.reason and "not on the remote" in out.reason
