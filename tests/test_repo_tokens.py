"""${REPO_ROOT} and ${REPO_FOLDER}: a session in a subfolder of a checkout names the checkout's top
and the client's folder for the repository (2.1.332 keeps a subfolder's auto-memory in the
folder of the repository's main work tree and writes that path into the transcript).

A's checkout is `A/code/api` (plus a worktree `A/code/api-feature`); B's is
`B/elsewhere/acme-api-2` (plus `B/elsewhere/acme-api-2-feature`), under no shared root.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from claude_sync.claude_home import project_folder_name
from claude_sync.engine import DONE, Selection
from claude_sync.format.bundle import FORMAT, Bundle, Manifest
from claude_sync.format.errors import BundleError
from claude_sync.format.tokens import REPO_FOLDER, REPO_ROOT, Context, Flavour
from claude_sync.portable import render
from claude_sync.project import DeviceLayout
from claude_sync.repos import canonical_root
from tests.support.claude_fixture import FixtureSession
from tests.support.repos import git, make_origin
from tests.test_repo_projects import machines  # noqa: F401 - the two devices on both backends


def checkout(origin: Path, top: Path) -> Path:
    """A clone at `top` with a linked worktree on `feature` beside it; the worktree's path."""
    git("clone", "-q", str(origin), str(top), cwd=origin.parent)
    worktree = top.parent / (top.name + "-feature")
    git("worktree", "add", "-q", str(worktree), "feature", cwd=top)
    return worktree


def memory_path(claude: Path, repo_top: Path) -> str:
    return f"{claude}/projects/{project_folder_name(str(repo_top))}/memory/MEMORY.md"


def test_canonical_root_is_the_main_work_tree_also_from_a_linked_worktree(tmp_path: Path):
    origin = make_origin(tmp_path, branches=("main", "feature"))
    top = tmp_path / "code" / "api"
    top.parent.mkdir()
    worktree = checkout(origin, top)
    assert canonical_root(str(top / "services" / "billing")) == str(top)
    assert canonical_root(str(top)) == str(top)
    assert canonical_root(str(worktree / "services")) == str(top)
    assert canonical_root(str(tmp_path / "code")) is None
    # A worktree of a bare repository has no main work tree: it is its own root (as in the client).
    bare_wt = tmp_path / "bare-wt"
    git("worktree", "add", "-q", str(bare_wt), "main", cwd=origin)
    assert canonical_root(str(bare_wt / "services")) == str(bare_wt)


def test_a_subfolder_session_carries_the_repository_top_and_memory_folder_to_the_other_checkout(
    machines, tmp_path: Path  # noqa: F811 - the fixture imported above
):
    a, b, engine = machines
    origin = make_origin(tmp_path, branches=("main", "feature"))
    top_a = a.projects / "api"
    wt_a = checkout(origin, top_a)
    sub_a = top_a / "services" / "billing"

    def work(cwd: Path, branch: str, tree: Path = top_a) -> FixtureSession:
        s = FixtureSession(a.paths.claude, str(cwd)).user(
            f"read {tree}/README.md and {memory_path(a.paths.claude, top_a)} already exists; "
            f"here is {cwd}/x.py"
        ).assistant(f"done in {cwd}")
        for r in s.records:
            r["gitBranch"] = branch
        return s.write()

    sub, wt, top = work(sub_a, "main"), work(wt_a / "services", "feature", wt_a), work(top_a, "main")
    ea = engine(a)
    pushed = ea.push(Selection(all=True))
    assert pushed.count(DONE) == 3, pushed.outcomes
    formats = {e.session_id: ea.backend.fetch(e.session_id).manifest.format for e in ea.remote()}
    # Only a bundle that uses the new tokens is of the new format; older devices read the rest.
    assert formats == {sub.session_id: 2, wt.session_id: 2, top.session_id: 1}
    carried = ea.backend.fetch(sub.session_id).files["transcript.jsonl"].decode()
    assert "${REPO_ROOT}/README.md" in carried and "/${REPO_FOLDER}/memory/" in carried
    assert str(a.home) not in carried

    top_b = b.home / "elsewhere" / "acme-api-2"
    top_b.parent.mkdir(parents=True)
    wt_b = checkout(origin, top_b)
    pulled = engine(b).pull(Selection(all=True))
    assert pulled.count(DONE) == 3, pulled.outcomes
    for s, cwd, tree in (
        (sub, top_b / "services" / "billing", top_b), (wt, wt_b / "services", wt_b), (top, top_b, top_b)
    ):
        text = FixtureSession(b.paths.claude, str(cwd), s.session_id).transcript.read_text()
        assert str(a.home) not in text and project_folder_name(str(top_a)) not in text, s.cwd
        # The top of the session's work tree, and the memory folder of B's repository (its main
        # work tree, also for the worktree session, as the client keys it).
        assert f"{tree}/README.md" in text
        assert memory_path(b.paths.claude, top_b) in text
        assert f"{cwd}/x.py" in text


def layout_b(tmp_path: Path) -> DeviceLayout:
    return DeviceLayout(projects_root=str(tmp_path / "b" / "code"), home=str(tmp_path / "b"), flavour=Flavour.POSIX)


def bundle_of(text: str, key: str, fmt: int) -> Bundle:
    manifest = Manifest(format=fmt, session_id="6f1e2c44-7a7b-4c56-9d0e-0a1b2c3d4e5f", project_key=key, device="a")
    return Bundle.build(manifest, {"transcript.jsonl": (json.dumps({"t": text}) + "\n").encode()}, set())


def test_a_bundle_of_format_1_reads_the_new_names_as_the_literal_text_it_was_written_as(tmp_path: Path):
    # Written by a device from before these tokens, which did not escape them.
    literal = "echo ${REPO_ROOT} ${REPO_FOLDER} ${HOME}/x"
    _cwd, files = render(bundle_of(literal, "acme/api", 1), layout_b(tmp_path))
    assert json.loads(files["transcript.jsonl"])["t"] == f"echo ${{REPO_ROOT}} ${{REPO_FOLDER}} {tmp_path}/b/x"


def test_a_repo_token_in_a_project_that_has_no_repository_is_refused_with_nothing_written(tmp_path: Path):
    with pytest.raises(BundleError, match=r"no path for \$\{REPO_ROOT\}; nothing was written"):
        render(bundle_of("${REPO_ROOT}/README.md", "acme/api", 2), layout_b(tmp_path))


def test_a_bundle_newer_than_this_tool_is_refused_by_name():
    assert FORMAT == 2
    b = bundle_of("hi", "acme/api", 3)
    with pytest.raises(BundleError, match="bundle format 3 is newer"):
        data = b.to_bytes()
        Bundle.from_bytes(data, hashlib.sha256(data).hexdigest())


def test_the_new_names_are_escaped_when_they_are_literal_text(tmp_path: Path):
    layout = layout_b(tmp_path)
    tokens = layout.tokens_for(str(tmp_path / "b" / "code" / "api" / "sub"), "-x", "git:example.com/o/r//sub")
    assert tokens.paths[REPO_ROOT] == str(tmp_path / "b" / "code" / "api")
    text = "${REPO_ROOT} ${REPO_FOLDER|x} " + str(tmp_path / "b" / "code" / "api" / "README")
    out = tokens.tokenize(text, Context.RAW)
    assert out == "${$}{REPO_ROOT} ${$}{REPO_FOLDER|x} ${REPO_ROOT}/README"
    assert tokens.detokenize(out, Context.RAW) == text
    assert REPO_FOLDER not in tokens.tokens_in(out)


def test_outside_a_repository_the_repository_folder_is_the_projects_own(tmp_path: Path):
    """Where B has no repository, its client keeps memory in the project's folder: the token goes there."""
    layout = layout_b(tmp_path)
    cwd = str(tmp_path / "b" / "code" / "api")
    tokens = layout.tokens_for(cwd, project_folder_name(cwd), "acme/api")
    assert tokens.detokenize("/x/${REPO_FOLDER}/memory", Context.RAW) == f"/x/{project_folder_name(cwd)}/memory"
    assert tokens.tokenize(f"/x/{project_folder_name(cwd)}/m", Context.RAW) == "/x/${PROJECT_FOLDER}/m"
