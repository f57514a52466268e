"""A readable transcript: prompts, answers and tool calls as Markdown, one part at a time.

The transcript is read line by line and each part stops at PART_CHARS of Markdown, so a 50 MB
session never sits in memory (here or in the editor) at once; long tool output is cut.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

PART_CHARS = 400_000
TOOL_TEXT_CHARS = 1_500


def _cut(text: str, limit: int = TOOL_TEXT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit:,} more characters)"


def _fence(text: str, lang: str = "") -> str:
    fence = "````" if "```" in text else "```"
    return f"{fence}{lang}\n{text}\n{fence}"


def _tool_result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(c.get("text", "") for c in content if isinstance(c, dict) and c.get("type") == "text")
    return ""


def record_markdown(rec: dict[str, Any]) -> str | None:
    """One transcript record as Markdown; None for what a reader does not need (metadata, sub-agents)."""
    kind = rec.get("type")
    if kind not in ("user", "assistant") or rec.get("isSidechain") or rec.get("isMeta"):
        return None
    message = rec.get("message") or {}
    content = message.get("content")
    when = (rec.get("timestamp") or "")[:16].replace("T", " ")
    out: list[str] = []
    if isinstance(content, str):
        if kind == "user":
            out.append(f"## You · {when}\n\n{content.strip()}")
        else:
            out.append(f"## Claude · {when}\n\n{content.strip()}")
    elif isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            t = part.get("type")
            if t == "text" and part.get("text", "").strip():
                who = "You" if kind == "user" else "Claude"
                out.append(f"## {who} · {when}\n\n{part['text'].strip()}")
            elif t == "tool_use":
                args = json.dumps(part.get("input", {}), indent=2, ensure_ascii=False)
                out.append(f"**Tool call: {part.get('name', '?')}**\n\n{_fence(_cut(args), 'json')}")
            elif t == "tool_result":
                text = _tool_result_text(part.get("content"))
                if text.strip():
                    out.append(f"**Tool result**\n\n{_fence(_cut(text.strip()))}")
    return "\n\n".join(out) or None


def _records(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a torn last line while the client writes: skip it
        if isinstance(rec, dict):
            yield rec


def render_part(lines: Iterable[bytes], title: str, part: int) -> dict[str, Any]:
    """Part `part` (from 0) of the transcript in `lines`: {markdown, part, more}."""
    chunks: list[str] = []
    size = current = 0
    more = False
    for rec in _records(lines):
        md = record_markdown(rec)
        if md is None:
            continue
        if size + len(md) > PART_CHARS and size:
            if current == part:
                more = True
                break
            current, size = current + 1, 0
        size += len(md) + 2
        if current == part:
            chunks.append(md)
    head = f"# {title or 'Session'}" + (f" (part {part + 1})" if part else "")
    tail = ["", "---", "", "*The transcript goes on: use **Next Part** in the editor's title bar.*"] if more else []
    if not chunks:
        chunks.append("*Nothing to show in this part.*")
    return {"markdown": "\n\n".join([head, *chunks, *tail]) + "\n", "part": part, "more": more}
