"""Ready-made scenarios for the mock Messages API (see mock_messages_api.py).

``rich_session_scenario(project_dir)`` makes the real client, in ONE ``claude -p`` run,
produce every kind of per-session artifact a sync tool has to carry:

1. ``Write`` a new file ``<project>/<file_name>`` whose content holds the absolute
   project path,
2. ``Edit`` that file,
3. ``Read`` then ``Edit`` the seed file ``<project>/<seed_file>`` that existed before
   the run (created by ``rich_session_scenario`` if absent): the client backs up only
   files that existed before the turn, so this is what fills ``file-history/<sid>/``
   (a file the same turn created gets ``backupFileName: null`` and no backup),
4. ``Bash`` ``pwd && ls``,
5. ``TaskCreate`` a task (2.1 task tools; loaded through ``ToolSearch`` when the client
   defers them), description holding the absolute project path,
6. ``Agent`` (``Task`` on older clients) runs a sub-agent whose own turns use ``Read``
   on the file and ``Bash`` ``ls``,
7. a final text answer (``scenario.final_text``).

Usage::

    sc = rich_session_scenario(project)
    api.set_script(sc)                      # or MockMessagesAPI(sc)
    run = machine.run(sc.prompt, project).check()
    assert sc.finished(api)
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mock_messages_api import (
    MessagesRequest,
    MockMessagesAPI,
    Reply,
    StepScenario,
    as_reply,
    text,
    tool_use,
)

# About 2.4 MB on stdout: more than either client keeps inline in the transcript.
BIG_OUTPUT_COMMAND = "seq 1 400000"

__all__ = ["BIG_OUTPUT_COMMAND", "RichSession", "agent_tool_input", "on_prompt", "rich_session_scenario"]


def on_prompt(marker: str, reply: Any):
    """A script answering ``reply`` (Reply, blocks, str or callable) to a prompt containing marker."""

    def script(req: MessagesRequest):
        if req.last_message.get("role") == "user" and not req.last_tool_results \
                and marker in req.last_user_text:
            return reply(req) if callable(reply) else reply
        return None

    return script


def agent_tool_input(req: MessagesRequest, description: str, prompt: str) -> tuple[str, dict[str, Any]]:
    """Name and input for running a foreground sub-agent with whatever tool this client offers."""
    name = req.pick_tool("Agent", "Task") or "Agent"
    schema = req.tool_schema(name) or {}
    props = schema.get("properties", {}) if isinstance(schema, dict) else {}
    inp: dict[str, Any] = {"description": description, "prompt": prompt}
    if "subagent_type" in props:
        listing = req.system_text + "\n" + req.all_text()
        if "general-purpose" in listing or "subagent_type" in schema.get("required", []):
            inp["subagent_type"] = "general-purpose"
    if "run_in_background" in props:
        inp["run_in_background"] = False  # newer clients default to background agents
    return name, inp


@dataclass
class RichSession:
    """The rich scenario: call it as a mock script; inspect it after the run."""

    project_dir: Path
    marker: str
    sub_marker: str
    file_name: str
    seed_file: str | None = "README.md"
    # Newer artifacts: a Bash output too big to keep inline (the client persists it under
    # projects/<enc>/<sid>/tool-results/ and names that file in the transcript), and a
    # background sub-agent (2.1.332 tells the model /tmp/claude-<uid>/<enc>/<sid>/tasks/...).
    big_output: bool = False
    background_agent: bool = False
    main: StepScenario = field(init=False)
    sub: StepScenario = field(init=False)
    bg: StepScenario = field(init=False)

    # what the file looks like after Write / after Edit
    @property
    def file_path(self) -> Path:
        return self.project_dir / self.file_name

    @property
    def written_content(self) -> str:
        return (f"# Notes for {self.marker}\n\nProject lives at {self.project_dir}\n"
                f"status: draft\n")

    @property
    def final_content(self) -> str:
        return self.written_content.replace("status: draft", "status: edited")

    @property
    def seed_path(self) -> Path | None:
        return self.project_dir / self.seed_file if self.seed_file else None

    @property
    def seed_content(self) -> str:
        return f"# Seed project\n\nCreated before the session in {self.project_dir}\nseed: original\n"

    @property
    def seed_final_content(self) -> str:
        return self.seed_content.replace("seed: original", "seed: changed by claude")

    @property
    def task_subject(self) -> str:
        return f"Check notes of {self.marker}"

    @property
    def task_description(self) -> str:
        return f"Review {self.file_path} in {self.project_dir}"

    @property
    def final_text(self) -> str:
        return f"All done for {self.marker} in {self.project_dir}."

    @property
    def sub_final_text(self) -> str:
        return f"Sub-agent {self.sub_marker} finished reading {self.file_path}."

    @property
    def prompt(self) -> str:
        """The prompt that starts the scenario (pass it to ``ClaudeMachine.run``)."""
        return f"{self.marker}: please write, edit, run, plan and delegate in this project."

    def __post_init__(self) -> None:
        self.project_dir = Path(os.path.realpath(self.project_dir))
        p = str(self.project_dir)
        f = str(self.file_path)

        def agent_step(req: MessagesRequest) -> Reply:
            name, inp = agent_tool_input(
                req, "Inspect the notes file",
                f"{self.sub_marker}: read {f} and list {p}, then report back.",
            )
            return Reply([tool_use(name, inp)])

        bg_marker = self.sub_marker.replace("SUBAGENT-", "BGAGENT-")

        def background_step(req: MessagesRequest) -> Reply:
            name, inp = agent_tool_input(req, "Survey in the background", f"{bg_marker}: list {p} and report.")
            if "run_in_background" in inp:
                inp["run_in_background"] = True
            return Reply([tool_use(name, inp)])

        self.main = StepScenario(self.marker, [
            Reply([text("Writing the notes file."),
                   tool_use("Write", {"file_path": f, "content": self.written_content})]),
            Reply([tool_use("Edit", {"file_path": f, "old_string": "status: draft",
                                     "new_string": "status: edited"})]),
            *([] if self.seed_path is None else [
                Reply([tool_use("Read", {"file_path": str(self.seed_path)})]),
                Reply([tool_use("Edit", {"file_path": str(self.seed_path),
                                         "old_string": "seed: original",
                                         "new_string": "seed: changed by claude"})]),
            ]),
            Reply([tool_use("Bash", {"command": "pwd && ls", "description": "Show folder and files"})]),
            Reply([tool_use("TaskCreate", {"subject": self.task_subject,
                                           "description": self.task_description,
                                           "activeForm": "Checking notes"})]),
            *([Reply([tool_use("Bash", {"command": BIG_OUTPUT_COMMAND, "description": "Print many numbers"})])]
              if self.big_output else []),
            agent_step,
            *([background_step] if self.background_agent else []),
        ], final_text=self.final_text)
        self.sub = StepScenario(self.sub_marker, [
            Reply([tool_use("Read", {"file_path": f})]),
            Reply([tool_use("Bash", {"command": f"ls {p}", "description": "List project files"})]),
        ], final_text=self.sub_final_text)
        self.bg = StepScenario(bg_marker, [
            Reply([tool_use("Bash", {"command": f"ls {p}", "description": "List project files"})]),
        ], final_text=f"Background survey of {p} done.")

    def __call__(self, req: MessagesRequest) -> Reply | None:
        return as_reply(self.main(req)) or as_reply(self.sub(req)) or as_reply(self.bg(req))

    def prepare(self) -> None:
        """Create the project folder and the seed file (unless it already exists)."""
        self.project_dir.mkdir(parents=True, exist_ok=True)
        if self.seed_path is not None and not self.seed_path.exists():
            self.seed_path.write_text(self.seed_content, encoding="utf-8")

    # after the run
    def finished(self, api: MockMessagesAPI) -> bool:
        """True once the main scenario answered its final text (every step's result came back)."""
        n = len(self.main.steps)
        for r in api.message_requests:
            if self.main.step_for(r) == n:
                return True
        return False

    def step_results(self, api: MockMessagesAPI) -> dict[str, str]:
        """tool name -> text of the tool_result the client sent back for our tool_use."""
        out: dict[str, str] = {}
        ids = {b["id"]: b["name"] for scen in (self.main, self.sub, self.bg)
               for blocks in scen.emitted.values() for b in blocks}
        for r in api.message_requests:
            for b in r.last_tool_results:
                tid = b.get("tool_use_id")
                if tid in ids:
                    c = b.get("content")
                    if isinstance(c, list):
                        c = "\n".join(str(x.get("text", x.get("tool_name", ""))) for x in c
                                      if isinstance(x, dict))
                    out[f"{ids[tid]}:{tid}"] = str(c)
        return out


def rich_session_scenario(
    project_dir: str | os.PathLike[str],
    *,
    marker: str | None = None,
    file_name: str = "notes.md",
    seed_file: str | None = "README.md",
    big_output: bool = False,
    background_agent: bool = False,
) -> RichSession:
    """Build the rich scenario for ``project_dir`` (see module doc).

    Creates ``project_dir`` and ``project_dir/seed_file`` (unless it exists already);
    ``seed_file=None`` leaves the seed steps out (then no file-history backup appears).

    ``marker`` (default: a fresh ``RICH-<hex>``) is what the prompt contains; the
    sub-agent's prompt gets a separate marker ``SUBAGENT-<hex>`` (one that does not
    contain the main marker). Use ``scenario.prompt`` as the prompt.
    """
    marker = marker or f"RICH-{uuid.uuid4().hex[:8]}"
    if not re.fullmatch(r"[A-Za-z0-9_-]+", marker):
        raise ValueError("marker must be [A-Za-z0-9_-]+")
    sub_marker = f"SUBAGENT-{uuid.uuid4().hex[:8]}"
    sc = RichSession(Path(project_dir), marker, sub_marker, file_name, seed_file, big_output, background_agent)
    sc.prepare()
    return sc
