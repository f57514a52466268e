"""A synced session shows up in the real client's interactive ``claude --resume`` picker.

The picker (2.1.197) keeps no index: it lists ``projects/<enc of cwd>/*.jsonl`` and hides
sessions made with ``-p`` (entrypoint ``sdk-cli``). So machine A makes its session the
way a person does, typing a prompt into the interactive client (entrypoint ``cli``);
``claude-sync`` carries it through a bare Git remote to machine B, whose projects live
under another root; there ``claude --resume`` (no id) must list it (by its ``ai-title``
when the client stored one, else by its first prompt, with B's path), preview it with B's
paths, and choosing it must continue the conversation with B's paths.

The interactive client runs in tmux on a socket of its own (``tmux -L``), read with
``capture-pane``; the server is killed at the end whatever happens.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from claude_client import ClaudeMachine, encode_project_dir
from mock_messages_api import MessagesRequest, MockMessagesAPI, ReplyLike, Script, text

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]

SCREEN_TIMEOUT = 20.0  # seconds one screen may take to appear (they take about 1 s)


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="module")
def tmux() -> str:
    """The tmux executable. Missing: a failure under CI (setup.sh installs it), else a skip."""
    path = shutil.which("tmux")
    if path:
        return path
    message = "tmux is needed to drive the interactive client (scripts/setup.sh installs it)"
    if _ci():
        pytest.fail(message)
    pytest.skip(message)


class ScreenTimeout(AssertionError):
    """The expected screen (or file) did not appear in time."""


def poll(what: str, probe: Callable[[], str], predicate: Callable[[str], bool], timeout: float = SCREEN_TIMEOUT) -> str:
    """Call ``probe`` until ``predicate`` holds on its result; fail with the last one."""
    deadline = time.monotonic() + timeout
    while True:
        seen = probe()
        if predicate(seen):
            return seen
        if time.monotonic() > deadline:
            raise ScreenTimeout(f"no {what} within {timeout}s; last seen:\n{seen}")
        time.sleep(0.1)


class InteractiveClaude:
    """The real client running interactively in a private tmux server.

    ``screen()`` is the visible pane as text; ``wait_for`` polls it until a predicate
    holds (no fixed sleeps). ``close()`` kills the tmux server of this socket only.
    """

    def __init__(self, tmux: str, conf_dir: Path, name: str) -> None:
        self.tmux = tmux
        self.name = name
        self.socket = f"claude-sync-e2e-{name}-{uuid.uuid4().hex[:10]}"
        # Our own config: the user's ~/.tmux.conf must not change the screen, and a dead
        # pane stays readable (its last words, e.g. an error, end up in the report).
        self.conf = conf_dir / f"{self.socket}.conf"
        self.conf.write_text("set -g remain-on-exit on\nset -g history-limit 10000\n")
        self.started = False
        self.socket_path = ""

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        return subprocess.run(
            [self.tmux, "-L", self.socket, "-f", str(self.conf), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
            check=check,
        )

    def start(self, machine: ClaudeMachine, cwd: Path, *args: str) -> None:
        """Run ``claude ARGS`` in ``cwd`` with exactly the machine's environment."""
        env = machine.env({"TERM": "xterm-256color"})
        argv = ["env", "-i", *(f"{k}={v}" for k, v in env.items()), machine.claude_bin, *args]
        self._run(
            "new-session", "-d", "-s", self.name, "-x", "200", "-y", "50", "-c", str(cwd), "exec " + shlex.join(argv)
        )
        self.started = True
        # tmux leaves its socket file behind when the server dies; close() removes it.
        self.socket_path = self._run("display-message", "-p", "#{socket_path}").stdout.strip()

    def screen(self) -> str:
        return self._run("capture-pane", "-p", "-t", self.name).stdout

    def wait_for(self, what: str, predicate: Callable[[str], bool], timeout: float = SCREEN_TIMEOUT) -> str:
        return poll(f"{what} on {self.name}'s screen", self.screen, predicate, timeout)

    def wait_for_text(self, needle: str, timeout: float = SCREEN_TIMEOUT) -> str:
        return self.wait_for(repr(needle), lambda s: needle in s, timeout)

    def wait_for_prompt_box(self) -> str:
        """The empty input line ``❯`` (versions differ in what the box's footer says)."""
        return self.wait_for("empty prompt box", lambda s: any(line.strip() == "❯" for line in s.splitlines()))

    def type(self, text_: str) -> None:
        self._run("send-keys", "-t", self.name, "-l", text_)

    def press(self, *keys: str) -> None:
        self._run("send-keys", "-t", self.name, *keys)

    def dead(self) -> bool:
        out = self._run("display-message", "-p", "-t", self.name, "#{pane_dead}", check=False)
        return out.stdout.strip() == "1"

    def quit(self) -> None:
        """Leave the client the way a person does: Ctrl-C twice."""
        self.press("C-c")
        self.wait_for_text("again to exit")
        self.press("C-c")
        self.wait_for("exit", lambda _s: self.dead())

    def close(self) -> None:
        if self.started:
            self._run("kill-session", "-t", self.name, check=False)
            self._run("kill-server", check=False)
            if self.socket_path:
                Path(self.socket_path).unlink(missing_ok=True)
        self.conf.unlink(missing_ok=True)


@pytest.fixture
def interactive(tmux: str, tmp_path: Path) -> Iterator[Callable[[str], InteractiveClaude]]:
    """Factory of :class:`InteractiveClaude`; every one is closed after the test."""
    made: list[InteractiveClaude] = []

    def factory(name: str) -> InteractiveClaude:
        session = InteractiveClaude(tmux, tmp_path, name)
        made.append(session)
        return session

    try:
        yield factory
    finally:
        for session in made:
            session.close()


def first_run_done(machine: ClaudeMachine, project: Path) -> None:
    """What a person's first start of the client leaves behind: onboarding finished, the
    API key from the environment approved, the project folder trusted. Without it the
    client opens its welcome flow, which checks api.anthropic.com (offline here)."""
    machine.claude_json.write_text(
        json.dumps(
            {
                "hasCompletedOnboarding": True,
                "theme": "dark",
                "customApiKeyResponses": {"approved": ["test"], "rejected": []},
                "projects": {str(project): {"hasTrustDialogAccepted": True}},
            }
        )
    )


def claude_sync(machine: ClaudeMachine, *args: str) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [sys.executable, "-m", "claude_sync", *args],
        env=machine.env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert r.returncode == 0, f"claude-sync {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r


def title_is(title: str) -> Script:
    """A mock script naming the session: interactive clients ask for a title on the first
    prompt (no tools offered, "title" in the system prompt) and store it as an
    ``ai-title`` record, which the picker shows instead of the first prompt."""

    def script(req: MessagesRequest) -> ReplyLike:
        if asks_for_title(req):
            # 2.1.197 wants {"title": ...} and drops a plain-text answer
            return [text(json.dumps({"title": title}) if "json" in req.system_text.lower() else title)]
        return None

    return script


def asks_for_title(req: MessagesRequest) -> bool:
    return not req.tools and "title" in req.system_text.lower()


def stored_titles(transcript_dir: Path) -> str:
    """The ``aiTitle`` of every ``ai-title`` record in the folder's transcripts, one a line."""
    titles = [
        record.get("aiTitle", "")
        for path in transcript_dir.glob("*.jsonl")
        for record in map(json.loads, path.read_text().splitlines())
        if record.get("type") == "ai-title"
    ]
    return "\n".join(titles)


def answer_on(marker: str, reply: str) -> Script:
    """A mock script answering ``reply`` to the prompt holding ``marker`` (in the
    conversation itself, which offers tools; not in the side request for a title)."""

    def script(req: MessagesRequest) -> ReplyLike:
        if req.tools and marker in req.last_user_text and not req.last_tool_results:
            return [text(reply)]
        return None

    return script


def test_pulled_session_is_listed_by_the_resume_picker_and_continues_with_local_paths(
    make_machine, mock_api: MockMessagesAPI, interactive, tmp_path: Path
) -> None:
    a: ClaudeMachine = make_machine("machine-a")
    b: ClaudeMachine = make_machine("machine-b")
    project_a = a.project("acme-api")
    b_root = b.home / "src" / "company-projects"
    project_b = b_root / "acme-api"
    project_b.mkdir(parents=True)

    # Machine A: a person types a prompt naming a file of the project; the answer names it
    # too (and 2.1.197 asks the model for a title).
    title = "Review of the picker login handler"
    first_prompt = "PICKER-FIRST-PROMPT please review {project}/src/login.py"
    first_answer = "PICKER-FIRST-ANSWER reviewed {project}/src/login.py"
    mock_api.set_script([title_is(title), answer_on("PICKER-FIRST-PROMPT", first_answer.format(project=project_a))])
    first_run_done(a, project_a)
    on_a = interactive("machine-a")
    on_a.start(a, project_a)
    on_a.wait_for_prompt_box()
    on_a.type(first_prompt.format(project=project_a))
    on_a.wait_for_text("PICKER-FIRST-PROMPT")
    on_a.press("Enter")
    on_a.wait_for_text("PICKER-FIRST-ANSWER")
    transcript_dir_a = a.transcript_dir(project_a)
    if any(asks_for_title(r) for r in mock_api.message_requests):
        # 2.1.197 titles the session beside the first answer: let the title land before quitting
        poll("ai-title record on A", lambda: stored_titles(transcript_dir_a), lambda t: title in t)
    on_a.quit()
    [transcript_a] = transcript_dir_a.glob("*.jsonl")
    sid = transcript_a.stem
    entrypoints = {json.loads(line).get("entrypoint") for line in transcript_a.read_text().splitlines()}
    assert "cli" in entrypoints, f"not an interactive session: entrypoints {entrypoints}"
    # The picker names a session by its stored title, else by its first prompt (2.1.332
    # asks for no title).
    titled = title in stored_titles(transcript_dir_a)

    # A pushes, B pulls through a bare Git remote.
    remote = tmp_path / "sessions.git"
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(remote)], check=True)
    git_backend = ["--backend", "git", "--git-url", str(remote)]
    claude_sync(a, "configure", "--device", "machine-a", "--projects-root", str(a.projects_root), *git_backend)
    pushed = json.loads(claude_sync(a, "push", sid, "--json").stdout)
    assert pushed["done"] == 1, pushed
    claude_sync(b, "configure", "--device", "machine-b", "--projects-root", str(b_root), *git_backend)
    pulled = json.loads(claude_sync(b, "pull", sid, "--json").stdout)
    assert pulled["done"] == 1, pulled
    assert (b.config_dir / "projects" / encode_project_dir(project_b) / f"{sid}.jsonl").is_file()

    # Machine B: `claude --resume` (no id) from B's project folder lists the session.
    first_run_done(b, project_b)
    on_b = interactive("machine-b")
    on_b.start(b, project_b, "--resume")
    label = title if titled else first_prompt.format(project=project_b)
    picker = on_b.wait_for("the resume picker listing the session", lambda s: label in s and "to preview" in s)
    assert str(a.root) not in picker
    assert "Resume session" in picker
    # Its preview is the conversation with B's paths.
    on_b.press("Space")
    preview = on_b.wait_for(
        "the session's preview",
        lambda s: "Enter to resume" in s and first_answer.format(project=project_b) in s,
    )
    assert first_prompt.format(project=project_b) in preview
    assert str(a.root) not in preview

    # Resuming it, a new prompt continues the conversation.
    on_b.press("Enter")
    on_b.wait_for_prompt_box()
    mock_api.set_script(answer_on("PICKER-SECOND-PROMPT", "PICKER-SECOND-ANSWER the login handler"))
    second_prompt = "PICKER-SECOND-PROMPT what did you review?"
    on_b.type(second_prompt)
    on_b.wait_for_text(second_prompt)
    on_b.press("Enter")
    on_b.wait_for_text("PICKER-SECOND-ANSWER")
    on_b.quit()

    # The model got the earlier messages, with B's paths and none of A's.
    [req] = [r for r in mock_api.message_requests if r.tools and "PICKER-SECOND-PROMPT" in r.last_user_text]
    earlier = MessagesRequest(dict(req.body, messages=req.messages[:-1])).all_text()
    assert first_prompt.format(project=project_b) in earlier
    assert first_answer.format(project=project_b) in earlier
    assert req.working_directory == str(project_b)
    assert str(a.root) not in json.dumps(req.body), "a path of machine A reached the model"
    # The client went on with the pulled transcript itself: same session, same file.
    [transcript_b] = b.transcript_dir(project_b).glob("*.jsonl")
    assert transcript_b.stem == sid
    assert "PICKER-SECOND-PROMPT" in transcript_b.read_text()
