"""A deterministic corpus of Claude Code sessions, shaped like what the real client writes.

Record shapes follow docs/real-client-notes.md and ../shared/claude-code-format.md: message
records with cwd/sessionId/version/gitBranch, tool calls whose inputs and results carry absolute
paths (Read results twice, as the tool result and as `toolUseResult.file.content`; Edit results
with the whole `originalFile`), thinking blocks with base64 signatures (incompressible, as in real
transcripts), start-of-run attachments, file-history snapshots whose tracked files grow, sub-agent
transcripts with their meta files, file-history backups, task files with their `.lock`, todos of
older clients, and the occasional summary, custom or AI title, compaction and resume.

Session sizes are log-normal (a few sessions are tens of MB, most are small) and scaled to the
preset's total. Everything comes from `random.Random` seeded by (seed, what, index), so the same
seed gives the same bytes whatever the number of worker processes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from multiprocessing import get_context
from pathlib import Path

from claude_sync.claude_home import project_folder_name

from .presets import KB, MB, Preset

GEN_VERSION = 3
CORPUS_INFO = "corpus.json"
EPOCH = datetime(2026, 5, 1, tzinfo=timezone.utc).timestamp()
LARGEST_SESSION = 120 * MB

_COMMON = (
    "the of and to in is that for it as with was on be by this are or from at an not which have but "
    "has we can will if all one more so when there what their about would out up into them these some "
    "then could other than its only also after new use first any two how because our over most where "
    "should does here just like need make sure now still check run test change fix file function code "
    "error value call return update add remove missing case path using instead before already works"
).split()
_TECH = (
    "parser config handler request response session token bundle cache index schema migration "
    "client server router model view adapter service worker queue stream buffer record payload "
    "module package import export build release deploy commit branch merge rebase lint format "
    "async await promise callback closure iterator generator decorator fixture mock assert "
    "timeout retry backoff lock mutex thread process signal socket port host proxy header body"
).split()
_EXTS = (".py", ".py", ".py", ".ts", ".ts", ".md", ".json", ".toml", ".sh", ".go")
_VERSIONS = (("2.0.76", 2), ("2.1.197", 5), ("2.1.332", 3))
_MODELS = ("claude-opus-4-5-20251101", "claude-sonnet-4-5-20250929", "claude-opus-4-8")


def _zipf_weights(n: int) -> list[float]:
    acc, out = 0.0, []
    for i in range(n):
        acc += 1.0 / (i + 1.5)
        out.append(acc)
    return out


class Vocabulary:
    """Words and paragraphs in Zipf proportions; pools keep generation fast without making text repeat locally."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"{seed}:vocabulary")
        syllables = ["ka", "lo", "mi", "ten", "ra", "vos", "in", "dex", "pa", "quo", "ser", "til", "om", "ba", "nu"]
        made = {"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(3000)}
        self.words = _COMMON + _TECH + sorted(made)
        rng.shuffle(self.words[len(_COMMON) :])
        self.cum = _zipf_weights(len(self.words))
        self.paragraphs = [self._paragraph(rng) for _ in range(4000)]

    def sentence(self, rng: random.Random) -> str:
        w = rng.choices(self.words, cum_weights=self.cum, k=rng.randint(6, 22))
        return w[0].capitalize() + " " + " ".join(w[1:]) + rng.choice((".", ".", ".", "?", ":"))

    def _paragraph(self, rng: random.Random) -> str:
        return " ".join(self.sentence(rng) for _ in range(rng.randint(2, 7)))

    def prose(self, rng: random.Random, paragraphs: int = 1) -> str:
        return "\n\n".join(rng.choice(self.paragraphs) for _ in range(paragraphs))


@dataclass
class Project:
    """One working directory with its own source files (reads and edits of a project repeat its files)."""

    cwd: str
    files: list[tuple[str, str]]  # path relative to cwd, content
    identifiers: list[str]


def _project_cwd(seed: int, index: int, home: str) -> str:
    rng = random.Random(f"{seed}:project-name:{index}")
    name = "-".join(rng.choice(_TECH) for _ in range(rng.randint(1, 2))) + f"-{index}"
    if index % 20 == 7:
        return f"{home}/scratch/{name}"  # inside home, outside the projects root
    if index % 25 == 13:
        return f"/tmp/{name}"  # neither: listed, never pushed
    org = rng.choice(("acme", "personal", "oss", "work", "clients/northwind"))
    return f"{home}/code/{org}/{name}"


def build_project(seed: int, index: int, home: str, vocab: Vocabulary) -> Project:
    rng = random.Random(f"{seed}:project:{index}")
    ids = sorted({"_".join(rng.sample(_TECH + _COMMON[:60], rng.randint(1, 3))) for _ in range(400)})
    classes = sorted({"".join(w.capitalize() for w in rng.sample(_TECH, 2)) for _ in range(80)})

    def line() -> str:
        a, b, f = rng.choice(ids), rng.choice(ids), rng.choice(ids)
        c = rng.choice(classes)
        return rng.choice(
            (
                f"def {f}({a}, {b}=None):",
                f"    return {a}.{f}({b})",
                f"class {c}({rng.choice(classes)}):",
                f"        {a} = {b}.{f}()",
                f"from .{a} import {c}",
                f"    if {a} is None or not {b}:",
                f'        raise {c}Error(f"cannot {f} {{{a}!r}}")',
                f"    # {vocab.sentence(rng)}",
                f"    for {a} in self.{b}:",
                f"            {a}.append({b}[{rng.randint(0, 9)}])",
                f"    {a}: dict[str, {c}] = {{}}",
                f'    log.info("{f}: %s", {a})',
                "",
            )
        )

    pool = [line() for _ in range(3000)]
    files = []
    for i in range(rng.randint(30, 90)):
        ext = rng.choice(_EXTS)
        folder = rng.choice(("src", "src/core", "src/api", "tests", "scripts", "lib", "docs"))
        rel = f"{folder}/{rng.choice(ids)}_{i}{ext}"
        n = max(8, min(900, int(rng.lognormvariate(4.3, 0.9))))
        start = rng.randrange(len(pool))
        lines = [pool[(start + j * rng.choice((1, 1, 1, 7, 13))) % len(pool)] for j in range(n)]
        files.append((rel, "\n".join(lines) + "\n"))
    return Project(_project_cwd(seed, index, home), files, ids)


@dataclass
class SessionPlan:
    index: int
    session_id: str
    project: int
    budget: int  # bytes of transcript (+ sub-agents) to write
    version: str
    start: float


@dataclass
class SessionStats:
    session_id: str
    bytes: int = 0
    files: int = 0
    transcript_bytes: int = 0


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _dump(rec: dict) -> bytes:
    return (json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


_SKILLS = "\n".join(
    f"- {name}: {text}"
    for name, text in (
        ("update-config", "Use this skill to configure the Claude Code harness via settings.json. " * 6),
        ("keybindings-help", "Use when the user wants to customize keyboard shortcuts or chord bindings. " * 4),
        ("deep-research", "Fan-out web searches, fetch sources, verify claims and synthesize a cited report. " * 5),
        ("statusline-setup", "Configure the status line shown under the prompt. " * 3),
    )
)
_AGENTS = [
    "- general-purpose: General-purpose agent for researching complex questions and multi-step tasks. (Tools: *)",
    "- Explore: Read-only search agent for broad fan-out searches across many files. (Tools: All tools except Edit, Write)",
    "- Plan: Software architect agent for designing implementation plans. (Tools: All tools except Edit, Write)",
]


class SessionWriter:
    """Writes one session's transcript and artifacts, turn by turn, until its byte budget is spent."""

    def __init__(self, claude: Path, plan: SessionPlan, project: Project, vocab: Vocabulary, seed: int) -> None:
        self.claude, self.plan, self.project, self.vocab = claude, plan, project, vocab
        self.rng = random.Random(f"{seed}:session:{plan.index}")
        self.sid = plan.session_id
        self.cwd = project.cwd
        self.clock = plan.start
        self.parent: str | None = None
        self.lines: list[bytes] = []
        self.size = 0
        self.tracked: dict[str, dict] = {}  # file-history snapshot: rel path -> backup entry
        self.versions: dict[str, int] = {}
        self.contents: dict[str, str] = {}
        self.extra: list[tuple[Path, bytes]] = []
        self.tasks = 0
        self.in_agent = False
        self.titled = False
        self.model = self.rng.choice(_MODELS)
        self.branch = self.rng.choice(("main", "main", "HEAD", f"feature/{self.rng.choice(project.identifiers)}"))
        self.entry = "cli" if self.rng.random() < 0.8 else "sdk-cli"

    # -- records -------------------------------------------------------------

    def tick(self, lo: float = 0.3, hi: float = 40.0) -> str:
        self.clock += self.rng.uniform(lo, hi)
        return _iso(self.clock)

    def emit(self, rec: dict, into: list[bytes] | None = None) -> None:
        line = _dump(rec)
        (self.lines if into is None else into).append(line)
        if into is None:
            self.size += len(line)

    def base(self, kind: str, **extra: object) -> dict:
        rec = {
            "parentUuid": self.parent,
            "isSidechain": False,
            **extra,
            "type": kind,
            "uuid": _uuid(self.rng),
            "timestamp": self.tick(),
            "userType": "external",
            "entrypoint": self.entry,
            "cwd": self.cwd,
            "sessionId": self.sid,
            "version": self.plan.version,
            "gitBranch": self.branch,
        }
        self.parent = rec["uuid"]  # type: ignore[assignment]
        return rec

    def usage(self) -> dict:
        r = self.rng
        return {
            "input_tokens": r.randint(3, 4000),
            "cache_creation_input_tokens": r.randint(0, 30000),
            "cache_read_input_tokens": r.randint(0, 200000),
            "output_tokens": r.randint(1, 3000),
            "service_tier": "standard",
        }

    def assistant(self, content: list[dict], stop: str) -> dict:
        msg = {
            "id": "msg_01" + base64.b32encode(self.rng.randbytes(15)).decode().lower()[:22],
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": self.usage(),
        }
        rec = self.base("assistant", message=msg, requestId="req_011" + self.rng.randbytes(10).hex())
        return rec

    def thinking(self) -> dict:
        sig = base64.b64encode(self.rng.randbytes(self.rng.randint(200, 900))).decode()
        return {"type": "thinking", "thinking": self.vocab.prose(self.rng, self.rng.randint(1, 3)), "signature": sig}

    def path(self, rel: str) -> str:
        return f"{self.cwd}/{rel}"

    # -- a run of the client ---------------------------------------------------

    def start_run(self, resumed: bool) -> None:
        r = self.rng
        if self.entry == "sdk-cli":
            prompt_ts = self.tick()
            self.emit(
                {
                    "type": "queue-operation",
                    "operation": "enqueue",
                    "timestamp": prompt_ts,
                    "sessionId": self.sid,
                    "content": self.vocab.sentence(r),
                }
            )
            self.emit(
                {
                    "type": "queue-operation",
                    "operation": "dequeue",
                    "timestamp": self.tick(0, 0.1),
                    "sessionId": self.sid,
                }
            )
        hook = {
            "type": "hook_success",
            "hookName": "SessionStart:" + ("resume" if resumed else "startup"),
            "toolUseID": _uuid(r),
            "hookEvent": "SessionStart",
            "content": "",
            "stdout": "",
            "stderr": "",
            "exitCode": 0,
            "command": f"{self.cwd}/.claude/hooks/start.sh",
            "durationMs": r.randint(20, 400),
        }
        self.emit(self.base("attachment", attachment=hook))
        if not resumed or r.random() < 0.5:
            self.emit(self.base("attachment", attachment={"type": "skill_listing", "content": _SKILLS}))
            self.emit(
                self.base(
                    "attachment",
                    attachment={
                        "type": "agent_listing_delta",
                        "addedTypes": ["general-purpose", "Explore", "Plan"],
                        "addedLines": _AGENTS,
                    },
                )
            )

    def turn(self) -> None:
        r = self.rng
        text = self.vocab.prose(r, r.randint(1, 2))
        if r.random() < 0.3:
            text += f"\nSee {self.path(r.choice(self.project.files)[0])}"
        user = self.base("user", promptId=_uuid(r), message={"role": "user", "content": text}, permissionMode="default")
        self.emit(user)
        self.snapshot(user["uuid"], update=False)
        prompt_id = user["promptId"]
        # Interactive 2.0/2.1.197 clients title a session from its first prompt, in a request of its own
        # whose answer lands right after the prompt or a step later (docs/real-client-notes.md).
        title_at = -1
        if not self.titled and self.entry == "cli" and self.plan.version != "2.1.332":
            title_at = 0 if r.random() < 0.7 else 1
            self.titled = True
        for step in range(min(40, int(r.expovariate(1 / 4)) + 1)):
            if step == title_at:
                self.emit({"type": "ai-title", "aiTitle": self.vocab.sentence(r)[:60], "sessionId": self.sid})
            self.tool_step(prompt_id)
            if self.size >= self.plan.budget:
                break
        content = [self.thinking()] if r.random() < 0.4 else []
        content.append({"type": "text", "text": self.vocab.prose(r, r.randint(1, 4))})
        self.emit(self.assistant(content, "end_turn"))

    def end_run(self) -> None:
        self.emit(
            {
                "type": "last-prompt",
                "lastPrompt": self.vocab.sentence(self.rng)[:200],
                "leafUuid": self.parent,
                "sessionId": self.sid,
            }
        )
        if self.rng.random() < 0.3:
            self.emit(
                {"type": "mode", "mode": self.rng.choice(("default", "plan", "acceptEdits")), "sessionId": self.sid}
            )

    def snapshot(self, message_id: str, update: bool) -> None:
        self.emit(
            {
                "type": "file-history-snapshot",
                "messageId": message_id,
                "snapshot": {
                    "messageId": message_id,
                    "trackedFileBackups": dict(self.tracked),
                    "timestamp": _iso(self.clock),
                },
                "isSnapshotUpdate": update,
            }
        )

    def tool_step(self, prompt_id: str) -> None:
        r = self.rng
        tool = r.choices(
            ("Read", "Edit", "Bash", "Grep", "Write", "TaskCreate", "Agent", "Glob"),
            cum_weights=(30, 50, 66, 76, 82, 85, 87, 92),
        )[0]
        if tool == "Agent" and self.in_agent:
            tool = "Read"
        rel, content = r.choice(self.project.files)
        content = self.contents.get(rel, content)
        tid = "toolu_01" + base64.b32encode(r.randbytes(15)).decode().lower()[:22]
        blocks: list[dict] = [self.thinking()] if r.random() < 0.3 else []
        if r.random() < 0.6:
            blocks.append({"type": "text", "text": self.vocab.sentence(r)})
        p = self.path(rel)
        if tool == "Read":
            inp: dict = {"file_path": p}
            numbered = "".join(f"{i:>6}\u2192{ln}\n" for i, ln in enumerate(content.splitlines()[:2000], 1))
            result: object = numbered
            tur: dict = {
                "type": "text",
                "file": {
                    "filePath": p,
                    "content": content,
                    "numLines": content.count("\n"),
                    "startLine": 1,
                    "totalLines": content.count("\n"),
                },
            }
        elif tool in ("Edit", "Write"):
            lines = content.splitlines()
            at = r.randrange(max(1, len(lines)))
            old = "\n".join(lines[at : at + r.randint(1, 6)])
            new = old + "\n" + "\n".join(f"    # {self.vocab.sentence(r)}" for _ in range(r.randint(1, 4)))
            updated = content.replace(old, new, 1) if old else content + new
            self.backup(rel, content)
            self.contents[rel] = updated
            if tool == "Edit":
                inp = {"file_path": p, "old_string": old, "new_string": new, "replace_all": False}
                result = (
                    f"The file {p} has been updated. Here's the result of running `cat -n` on a snippet of the edited file:\n"
                    + new
                )
                tur = {
                    "filePath": p,
                    "oldString": old,
                    "newString": new,
                    "originalFile": content,
                    "structuredPatch": [
                        {
                            "oldStart": at + 1,
                            "oldLines": old.count("\n") + 1,
                            "newStart": at + 1,
                            "newLines": new.count("\n") + 1,
                            "lines": ["-" + x for x in old.splitlines()] + ["+" + x for x in new.splitlines()],
                        }
                    ],
                    "userModified": False,
                    "replaceAll": False,
                }
            else:
                inp = {"file_path": p, "content": updated}
                result = f"File created successfully at: {p}"
                tur = {
                    "type": "update",
                    "filePath": p,
                    "content": updated,
                    "structuredPatch": [],
                    "originalFile": content,
                }
        elif tool == "Bash":
            cmd = r.choice(
                (
                    f"cd {self.cwd} && python -m pytest -q",
                    f"ls -la {self.path(rel.rsplit('/', 1)[0])}",
                    f"git -C {self.cwd} status --short",
                    f"grep -rn {r.choice(self.project.identifiers)} {self.cwd}/src",
                )
            )
            out = "\n".join(
                f"{self.path(f)}:{r.randint(1, 400)}: {c.splitlines()[0] if c else ''}"
                for f, c in r.sample(self.project.files, min(len(self.project.files), r.randint(1, 25)))
            )
            inp = {"command": cmd, "description": self.vocab.sentence(r)[:60]}
            result = out
            tur = {"stdout": out, "stderr": "", "interrupted": False, "isImage": False}
        elif tool in ("Grep", "Glob"):
            names = [
                self.path(f) for f, _ in r.sample(self.project.files, min(len(self.project.files), r.randint(1, 30)))
            ]
            inp = {"pattern": r.choice(self.project.identifiers), "path": self.cwd}
            result = f"Found {len(names)} files\n" + "\n".join(names)
            tur = {"mode": "files_with_matches", "filenames": names, "numFiles": len(names)}
        elif tool == "TaskCreate":
            self.tasks += 1
            subject = self.vocab.sentence(r)[:70]
            desc = f"{self.vocab.sentence(r)} in {p}"
            inp = {"subject": subject, "description": desc, "activeForm": subject[:40]}
            result = f"Task #{self.tasks} created successfully: {subject}"
            tur = {"task": {"id": str(self.tasks), "subject": subject}}
            task: dict[str, object] = {
                "id": str(self.tasks),
                "subject": subject,
                "description": desc,
                "activeForm": subject[:40],
                "status": r.choice(("pending", "in_progress", "completed")),
                "blocks": [],
                "blockedBy": [],
            }
            self.extra.append(
                (self.claude / "tasks" / self.sid / f"{self.tasks}.json", json.dumps(task, indent=2).encode())
            )
            self.extra.append((self.claude / "tasks" / self.sid / ".lock", b""))
        else:  # Agent: a sub-agent transcript of its own
            prompt = f"{self.vocab.sentence(r)} Look at {p} and {self.cwd}/src, then report back."
            inp = {"description": self.vocab.sentence(r)[:50], "prompt": prompt, "subagent_type": "general-purpose"}
            summary = self.vocab.prose(r, r.randint(1, 3))
            result = [{"type": "text", "text": summary}]
            tur = {
                "status": "completed",
                "prompt": prompt,
                "content": result,
                "totalDurationMs": r.randint(2000, 90000),
            }
            self.subagent(prompt, tid, prompt_id)
        blocks.append({"type": "tool_use", "id": tid, "name": tool, "input": inp})
        a = self.assistant(blocks, "tool_use")
        self.emit(a)
        self.emit(
            self.base(
                "user",
                promptId=prompt_id,
                message={"role": "user", "content": [{"tool_use_id": tid, "type": "tool_result", "content": result}]},
                toolUseResult=tur,
                sourceToolAssistantUUID=a["uuid"],
            )
        )
        if tool in ("Edit", "Write"):
            self.snapshot(a["uuid"], update=True)

    def backup(self, rel: str, content: str) -> None:
        version = self.versions.get(rel, 0) + 1
        self.versions[rel] = version
        name = hashlib.sha256(self.path(rel).encode()).hexdigest()[:16] + f"@v{version}"
        self.tracked[rel] = {"backupFileName": name, "version": version, "backupTime": _iso(self.clock)}
        self.extra.append((self.claude / "file-history" / self.sid / name, content.encode()))

    def subagent(self, prompt: str, tool_id: str, prompt_id: str) -> None:
        r = self.rng
        agent = r.randbytes(9).hex()[:17]
        folder = self.claude / "projects" / project_folder_name(self.cwd) / self.sid / "subagents"
        budget = min(self.plan.budget // 10, r.randint(8 * KB, 600 * KB))
        saved = (self.parent, self.lines, self.size)
        self.parent, self.lines, self.size, self.in_agent = None, [], 0, True
        first = self.base("user", promptId=prompt_id, agentId=agent, message={"role": "user", "content": prompt})
        first["isSidechain"] = True
        self.emit(first)
        while self.size < budget:
            before = len(self.lines)
            self.tool_step(prompt_id)
            for i in range(before, len(self.lines)):  # sub-agent lines are sidechain lines with the agent id
                rec = json.loads(self.lines[i])
                if "uuid" in rec:
                    rec["isSidechain"], rec["agentId"] = True, agent
                self.lines[i] = _dump(rec)
        lines = self.lines
        self.parent, self.lines, self.size = saved
        self.in_agent = False
        self.extra.append((folder / f"agent-{agent}.jsonl", b"".join(lines)))
        meta = {"agentType": "general-purpose", "description": prompt[:60], "toolUseId": tool_id, "spawnDepth": 1}
        self.extra.append((folder / f"agent-{agent}.meta.json", json.dumps(meta).encode()))
        self.size += sum(len(x) for x in lines)  # counts against the session's budget

    # -- the whole session -----------------------------------------------------------

    def write(self) -> SessionStats:
        r = self.rng
        old = self.plan.version.startswith("2.0")
        if old and r.random() < 0.3:
            self.emit({"type": "summary", "summary": self.vocab.sentence(r)[:80], "leafUuid": _uuid(r)})
        self.start_run(resumed=False)
        runs = 0
        while self.size < self.plan.budget:
            self.turn()
            if r.random() < 0.15:  # the client exits; a later --resume appends to the same file
                self.end_run()
                self.clock += r.uniform(600, 3 * 86400)
                self.start_run(resumed=True)
                runs += 1
            if self.size > 2 * MB and r.random() < 0.02:
                self.emit(
                    self.base(
                        "system",
                        subtype="compact_boundary",
                        content="Conversation compacted",
                        level="info",
                        compactMetadata={"trigger": "auto", "preTokens": r.randint(150000, 190000)},
                    )
                )
                self.emit(
                    self.base(
                        "user", isCompactSummary=True, message={"role": "user", "content": self.vocab.prose(r, 6)}
                    )
                )
        if r.random() < 0.03:
            self.emit({"type": "custom-title", "customTitle": self.vocab.sentence(r)[:50], "sessionId": self.sid})
        self.end_run()
        if old and r.random() < 0.5:
            name = f"{self.sid}-agent-{self.sid}.json"
            todos = [] if r.random() < 0.6 else [{"content": self.vocab.sentence(r), "status": "completed", "id": "1"}]
            self.extra.append((self.claude / "todos" / name, json.dumps(todos).encode()))
        pdir = self.claude / "projects" / project_folder_name(self.cwd)
        if old and r.random() < 0.1:
            legacy = [json.loads(x) for x in self.lines[-4:] if b'"uuid"' in x]
            body = b"".join(_dump({**rec, "isSidechain": True}) for rec in legacy)
            self.extra.append((pdir / f"agent-{r.randbytes(4).hex()}.jsonl", body))
        transcript = b"".join(self.lines)
        files = [(pdir / f"{self.sid}.jsonl", transcript), *self.extra]
        (self.claude / "session-env" / self.sid).mkdir(parents=True, exist_ok=True)  # empty, as the client leaves it
        stats = SessionStats(self.sid, transcript_bytes=len(transcript))
        mtime = self.clock
        for path, data in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            os.utime(path, (mtime, mtime))
            stats.bytes += len(data)
            stats.files += 1
        return stats


# -- planning and writing the corpus ---------------------------------------------


def plan_sessions(preset: Preset, seed: int) -> list[SessionPlan]:
    rng = random.Random(f"{seed}:plan:{preset.name}")
    raw = [rng.lognormvariate(0, 1.5) for _ in range(preset.sessions)]
    scale = preset.corpus_bytes * 0.9 / sum(raw)  # file history and small files add the rest
    cap = min(LARGEST_SESSION, preset.corpus_bytes // 3)
    weights = _zipf_weights(preset.projects)
    versions = [v for v, _w in _VERSIONS]
    vweights = [w for _v, w in _VERSIONS]
    plans = []
    for i, x in enumerate(raw):
        plans.append(
            SessionPlan(
                index=i,
                session_id=_uuid(rng),
                project=rng.choices(range(preset.projects), cum_weights=weights)[0],
                budget=max(3 * KB, min(cap, int(x * scale))),
                version=rng.choices(versions, weights=vweights)[0],
                start=EPOCH + rng.uniform(0, 180 * 86400),
            )
        )
    return plans


_worker_state: dict[str, object] = {}


def _write_one(args: tuple[str, str, int, SessionPlan]) -> SessionStats:
    home, claude, seed, plan = args
    vocab = _worker_state.get("vocab")
    if vocab is None:
        vocab = _worker_state["vocab"] = Vocabulary(seed)
    projects: dict[int, Project] = _worker_state.setdefault("projects", {})  # type: ignore[assignment]
    if plan.project not in projects:
        projects[plan.project] = build_project(seed, plan.project, home, vocab)  # type: ignore[arg-type]
    return SessionWriter(Path(claude), plan, projects[plan.project], vocab, seed).write()  # type: ignore[arg-type]


@dataclass
class Corpus:
    """A generated corpus on disk: a home with `.claude` (the config dir) and `code` (the projects root)."""

    root: Path
    preset: str
    seed: int
    sessions: int = 0
    bytes: int = 0
    files: int = 0
    largest: int = 0
    seconds: float = 0.0
    home: str = ""
    stats: list[dict] = field(default_factory=list)

    @property
    def home_dir(self) -> Path:
        return self.root / "home"

    @property
    def claude(self) -> Path:
        return self.home_dir / ".claude"

    @property
    def projects_root(self) -> Path:
        return self.home_dir / "code"

    def info(self) -> dict:
        d = asdict(self)
        d["root"] = str(self.root)
        d.pop("stats")
        return d


def corpus_dir(out: Path, preset: Preset, seed: int) -> Path:
    return out / "corpus" / f"{preset.name}-seed{seed}-v{GEN_VERSION}"


def ensure_corpus(out: Path, preset: Preset, seed: int, log=print) -> Corpus:  # type: ignore[no-untyped-def]
    """The cached corpus for (preset, seed), generated first when missing or incomplete."""
    root = corpus_dir(out, preset, seed).resolve()
    info_file = root / CORPUS_INFO
    if info_file.exists():
        info = json.loads(info_file.read_text())
        if info.get("home") == str(root / "home"):
            info.pop("root", None)
            return Corpus(root=root, **info)
    if root.exists():
        shutil.rmtree(root)
    return generate(root, preset, seed, log)


def generate(root: Path, preset: Preset, seed: int, log=print) -> Corpus:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    corpus = Corpus(root=root, preset=preset.name, seed=seed, home=str(root / "home"))
    corpus.claude.mkdir(parents=True)
    corpus.projects_root.mkdir(parents=True)
    (corpus.claude / "settings.json").write_text('{\n  "model": "opus"\n}\n')
    plans = plan_sessions(preset, seed)
    home = str(corpus.home_dir)
    # Make the project folders exist, as on a real machine.
    for i in range(preset.projects):
        cwd = _project_cwd(seed, i, home)
        if cwd.startswith(home):
            Path(cwd).mkdir(parents=True, exist_ok=True)
    log(
        f"generating the {preset.name} corpus: {preset.sessions} sessions, about {preset.corpus_bytes // MB} MB, in {root}"
    )
    jobs = [(home, str(corpus.claude), seed, p) for p in sorted(plans, key=lambda p: -p.budget)]
    workers = max(1, os.cpu_count() or 1)
    done = 0
    if workers == 1 or len(jobs) < 8:
        results: Iterator[SessionStats] = map(_write_one, jobs)
        stats = list(results)
    else:
        with get_context("fork").Pool(workers) as pool:
            stats = []
            for s in pool.imap_unordered(_write_one, jobs, chunksize=1):
                stats.append(s)
                done += 1
                if done % max(1, len(jobs) // 10) == 0:
                    log(f"  {done}/{len(jobs)} sessions")
    stats.sort(key=lambda s: s.session_id)
    corpus.sessions = len(stats)
    corpus.bytes = sum(s.bytes for s in stats)
    corpus.files = sum(s.files for s in stats)
    corpus.largest = max(s.transcript_bytes for s in stats)
    corpus.seconds = round(time.perf_counter() - started, 1)
    (root / CORPUS_INFO).write_text(json.dumps(corpus.info(), indent=1))
    log(
        f"  {corpus.sessions} sessions, {corpus.bytes / MB:.0f} MB in {corpus.files} files, largest transcript "
        f"{corpus.largest / MB:.1f} MB; took {corpus.seconds:.0f} s"
    )
    return corpus


def write_session(claude: Path, cwd: str, budget: int, seed: int, index: int = 10**6) -> tuple[str, Path]:
    """One session of about `budget` bytes in `cwd` (figure 4's large session); (session id, transcript)."""
    vocab = Vocabulary(seed)
    home = str(Path(cwd).parent)
    project = build_project(seed, index, home, vocab)
    project.cwd = cwd
    rng = random.Random(f"{seed}:single:{index}")
    plan = SessionPlan(index, _uuid(rng), index, budget, "2.1.197", EPOCH)
    SessionWriter(claude, plan, project, vocab, seed).write()
    return plan.session_id, claude / "projects" / project_folder_name(cwd) / f"{plan.session_id}.jsonl"


def append_turn(transcript: Path, session_id: str, cwd: str, nbytes: int, seed: int) -> bytes:
    """Append whole records worth at least `nbytes` to a transcript, as a resumed client would; returns them."""
    vocab = Vocabulary(seed)
    project = build_project(seed, 10**6, str(Path(cwd).parent), vocab)
    project.cwd = cwd
    tail = [json.loads(x) for x in transcript.read_bytes()[-64 * KB :].splitlines()[1:]]
    plan = SessionPlan(10**6 + 1, session_id, 0, nbytes, "2.1.197", time.time())
    w = SessionWriter(transcript.parent.parent.parent, plan, project, vocab, seed)
    w.parent = next((rec["uuid"] for rec in reversed(tail) if "uuid" in rec), None)
    while w.size < nbytes:
        text = vocab.prose(w.rng, 1)
        w.emit(
            w.base("user", promptId=_uuid(w.rng), message={"role": "user", "content": text}, permissionMode="default")
        )
        w.emit(w.assistant([{"type": "text", "text": vocab.prose(w.rng, 2)}], "end_turn"))
    data = b"".join(w.lines)
    with open(transcript, "ab") as f:
        f.write(data)
    return data
