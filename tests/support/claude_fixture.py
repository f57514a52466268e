"""Build Claude Code config dirs that look like the real client's, for tests.

The record shapes follow ../shared/claude-code-format.md and what the real
client wrote in tests/e2e (paths in cwd, tool inputs, tool results, file-history
snapshot keys, sub-agent transcripts, task files).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from claude_sync.claude_home import project_folder_name


def _ts(i: int, day: int = 1) -> str:
    return f"2026-11-{day:02d}T10:{i // 60:02d}:{i % 60:02d}.000Z"


@dataclass
class FixtureSession:
    claude_dir: Path
    cwd: str
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    records: list[dict] = field(default_factory=list)
    day: int = 1

    @property
    def project_dir(self) -> Path:
        return self.claude_dir / "projects" / project_folder_name(self.cwd)

    @property
    def transcript(self) -> Path:
        return self.project_dir / f"{self.session_id}.jsonl"

    def _base(self, kind: str, parent: str | None) -> dict:
        return {
            "parentUuid": parent,
            "isSidechain": False,
            "userType": "external",
            "cwd": self.cwd,
            "sessionId": self.session_id,
            "version": "2.1.197",
            "gitBranch": "main",
            "type": kind,
            "uuid": str(uuid.uuid4()),
            "timestamp": _ts(len(self.records), self.day),
        }

    @property
    def last_uuid(self) -> str | None:
        for r in reversed(self.records):
            if "uuid" in r:
                return r["uuid"]
        return None

    def user(self, text: str) -> FixtureSession:
        r = self._base("user", self.last_uuid)
        r["message"] = {"role": "user", "content": text}
        self.records.append(r)
        return self

    def write_tool(self, rel: str, content: str) -> FixtureSession:
        path = f"{self.cwd}/{rel}"
        tid = "toolu_" + uuid.uuid4().hex[:12]
        a = self._base("assistant", self.last_uuid)
        a["message"] = {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": tid, "name": "Write", "input": {"file_path": path, "content": content}}],
        }
        self.records.append(a)
        u = self._base("user", a["uuid"])
        u["message"] = {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tid, "content": f"File created successfully at: {path}"}],
        }
        u["toolUseResult"] = {"type": "create", "filePath": path, "content": content}
        self.records.append(u)
        snap = {
            "type": "file-history-snapshot",
            "messageId": a["uuid"],
            "snapshot": {
                "messageId": a["uuid"],
                "trackedFileBackups": {rel: {"backupFileName": self.backup_name(path, 1), "version": 1, "backupTime": _ts(len(self.records))}},
                "timestamp": _ts(len(self.records)),
            },
            "isSnapshotUpdate": False,
        }
        self.records.append(snap)
        self.file_history[self.backup_name(path, 1)] = content
        return self

    def bash(self, command: str, stdout: str) -> FixtureSession:
        tid = "toolu_" + uuid.uuid4().hex[:12]
        a = self._base("assistant", self.last_uuid)
        a["message"] = {"role": "assistant", "content": [{"type": "tool_use", "id": tid, "name": "Bash", "input": {"command": command}}]}
        self.records.append(a)
        u = self._base("user", a["uuid"])
        u["message"] = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tid, "content": stdout}]}
        u["toolUseResult"] = {"stdout": stdout, "stderr": "", "interrupted": False}
        self.records.append(u)
        return self

    def assistant(self, text: str) -> FixtureSession:
        a = self._base("assistant", self.last_uuid)
        a["message"] = {"role": "assistant", "content": [{"type": "text", "text": text}]}
        self.records.append(a)
        return self

    def title(self, text: str) -> FixtureSession:
        self.records.append({"type": "custom-title", "customTitle": text, "sessionId": self.session_id})
        return self

    @staticmethod
    def backup_name(abs_path: str, version: int) -> str:
        return hashlib.sha256(abs_path.encode()).hexdigest()[:16] + f"@v{version}"

    file_history: dict[str, str] = field(default_factory=dict)
    subagents: dict[str, list[dict]] = field(default_factory=dict)
    tasks: dict[str, dict] = field(default_factory=dict)

    def subagent(self, agent_id: str, prompt: str) -> FixtureSession:
        r = self._base("user", None)
        r.update(isSidechain=True, agentId=agent_id)
        r["message"] = {"role": "user", "content": prompt}
        self.subagents[agent_id] = [r]
        return self

    def task(self, n: int, subject: str, description: str) -> FixtureSession:
        self.tasks[f"{n}.json"] = {"id": str(n), "subject": subject, "description": description, "status": "pending"}
        return self

    def write(self) -> FixtureSession:
        self.project_dir.mkdir(parents=True, exist_ok=True)
        self.transcript.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in self.records))
        for agent_id, recs in self.subagents.items():
            d = self.project_dir / self.session_id / "subagents"
            d.mkdir(parents=True, exist_ok=True)
            (d / f"agent-{agent_id}.jsonl").write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in recs))
            (d / f"agent-{agent_id}.meta.json").write_text(json.dumps({"agentType": "general-purpose", "cwd": self.cwd}))
        for name, content in self.file_history.items():
            p = self.claude_dir / "file-history" / self.session_id / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(content)
        for name, task in self.tasks.items():
            p = self.claude_dir / "tasks" / self.session_id / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(task, indent=2))
            (p.parent / ".lock").write_text("")
        return self


def rich_session(claude_dir: Path, cwd: str, home: str, session_id: str | None = None) -> FixtureSession:
    """A session that carries paths in every place the real client puts them."""
    s = FixtureSession(claude_dir, cwd, **({"session_id": session_id} if session_id else {}))
    s.user(f"Create hello.py in {cwd} and show me ${{HOME}} handling")
    s.write_tool("hello.py", f'print("hello from {cwd}")\n# literal ${{HOME}} and ${{PROJECT_ROOT}} stay\n')
    s.bash(f"cd {cwd} && pwd && ls {home}/.config", f"{cwd}\nsettings.json")
    s.subagent("a1b2c3", f"Look at {cwd}/hello.py and report")
    s.task(1, "Review hello.py", f"Check {cwd}/hello.py for style")
    s.assistant(f"Done: {cwd}/hello.py prints its folder. Your home is {home}.")
    return s.write()


def extend_transcript(transcript: Path, uuid: str, ts: str, text: str) -> None:
    """Append one user turn to a transcript, as the client does when a session goes on."""
    last = json.loads(transcript.read_text().splitlines()[-1])
    rec = {**last, "uuid": uuid, "parentUuid": last.get("uuid"), "timestamp": ts, "type": "user"}
    rec["message"] = {"role": "user", "content": text}
    with transcript.open("a") as f:
        f.write(json.dumps(rec, separators=(",", ":")) + "\n")


LONG_AGO = time.time() - 3600


def age(*paths: Path, ago: float = 0) -> None:
    """Make folders look untouched for an hour, so discovery may trust their listing."""
    for p in paths:
        os.utime(p, (LONG_AGO + ago, LONG_AGO + ago))


def big_session(claude: Path, turns: int = 400) -> FixtureSession:
    """A transcript many times larger than the windows listing reads, its title re-appended at the tail."""
    s = FixtureSession(claude, "/home/a/code/acme/api")
    s.user("Why does the parser drop the last line?")
    for i in range(turns):
        s.bash(f"cat /home/a/code/acme/api/src/file{i}.py", "x = 1\n" * 40)
    s.title("Parser drops last line")
    s.assistant("Fixed.")
    return s.write()
