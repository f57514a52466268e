"""The client's settings.json, edited as text: every byte that is not ours stays as it was.

Edits are made on the text itself, at the spans of the values they touch (key order,
formatting and other hooks stay put), so that removing what was added gives back the very
file that was there before. A file that is not valid JSON, or whose `hooks` is not shaped
as the client expects, is reported and never written. What goes in is decided by policy.py.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import atomic
from ..config import Paths
from ..format.errors import ConfigError

SETTINGS = "settings.json"


class SettingsError(ConfigError):
    """settings.json cannot be read as the client's settings: we leave it alone."""

    code = "settings_error"


def settings_path(paths: Paths) -> Path:
    return paths.claude / SETTINGS


# -- JSON with positions ------------------------------------------------------


@dataclass
class Node:
    """A JSON value and where it sits in the text; containers list their children in order."""

    kind: str  # object | array | scalar
    start: int
    end: int
    keys: list[str] = field(default_factory=list)  # objects: member keys, aligned with `children`
    key_starts: list[int] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)

    def get(self, key: str) -> Node | None:
        for k, child in reversed(list(zip(self.keys, self.children))):  # the last duplicate wins, as in json.loads
            if k == key:
                return child
        return None

    def child_start(self, i: int) -> int:
        return self.key_starts[i] if self.kind == "object" else self.children[i].start


_WS = re.compile(r"[ \t\n\r]*")
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null|NaN|-?Infinity")


def _parse(text: str, i: int) -> Node:
    i = _WS.match(text, i).end()  # type: ignore[union-attr]
    c = text[i]
    if c == "{":
        node = Node("object", i, i)
        i = _WS.match(text, i + 1).end()  # type: ignore[union-attr]
        if text[i] == "}":
            node.end = i + 1
            return node
        while True:
            i = _WS.match(text, i).end()  # type: ignore[union-attr]
            key, after = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
            node.keys.append(key)
            node.key_starts.append(i)
            i = _WS.match(text, after).end() + 1  # type: ignore[union-attr]  # the ':'
            child = _parse(text, i)
            node.children.append(child)
            i = _WS.match(text, child.end).end()  # type: ignore[union-attr]
            if text[i] == "}":
                node.end = i + 1
                return node
            i += 1  # the ','
    if c == "[":
        node = Node("array", i, i)
        i = _WS.match(text, i + 1).end()  # type: ignore[union-attr]
        if text[i] == "]":
            node.end = i + 1
            return node
        while True:
            child = _parse(text, i)
            node.children.append(child)
            i = _WS.match(text, child.end).end()  # type: ignore[union-attr]
            if text[i] == "]":
                node.end = i + 1
                return node
            i += 1
    if c == '"':
        _s, end = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
        return Node("scalar", i, end)
    m = _SCALAR.match(text, i)
    if not m:
        raise ValueError(f"unexpected {c!r} at offset {i}")
    return Node("scalar", i, m.end())


class Settings:
    """The text of settings.json, edited in place."""

    def __init__(self, text: str, where: Path) -> None:
        self.where = where
        self.bom = "\ufeff" if text.startswith("\ufeff") else ""
        self.text = text[len(self.bom) :]
        if not self.text.strip():
            self.text = "{\n}\n"  # an empty file is an empty settings object, as for the client
        try:
            json.loads(self.text)
        except ValueError as e:
            raise SettingsError(f"{where} is not valid JSON ({e}); nothing was changed. Fix it and run this again.") from e
        self.root = _parse(self.text, 0)
        if self.root.kind != "object":
            raise SettingsError(f"{where} does not hold a JSON object; nothing was changed")
        m = re.search(r"\n([ \t]+)\S", self.text)
        self.unit = m.group(1) if m else "  "
        self.nl = "\r\n" if "\r\n" in self.text else "\n"

    def rendered(self) -> str:
        return self.bom + self.text

    def value(self, node: Node) -> Any:
        return json.loads(self.text[node.start : node.end])

    def _reparse(self, text: str) -> None:
        self.text = text
        self.root = _parse(text, 0)

    # -- the shape we rely on

    def hooks(self) -> Node | None:
        node = self.root.get("hooks")
        if node is not None and node.kind != "object":
            raise SettingsError(f"{self.where}: `hooks` is not an object; nothing was changed")
        return node

    def event(self, name: str) -> Node | None:
        hooks = self.hooks()
        node = hooks.get(name) if hooks else None
        if node is not None and node.kind != "array":
            raise SettingsError(f"{self.where}: `hooks.{name}` is not a list; nothing was changed")
        return node

    # -- text edits (each one followed by a reparse)

    def _indent_at(self, pos: int) -> str:
        line_start = self.text.rfind("\n", 0, pos) + 1
        return _WS.match(self.text, line_start).group(0).replace("\n", "").replace("\r", "")  # type: ignore[union-attr]

    def _dump(self, value: Any, indent: str) -> str:
        return json.dumps(value, indent=self.unit, ensure_ascii=False).replace("\n", self.nl + indent)

    def append(self, container: Node, value: Any, key: str | None = None) -> None:
        """Add a member (objects) or an element (arrays) after the last one, in the file's style."""
        compact = False
        if container.children:
            last = container.children[-1]
            first = container.child_start(0)
            if "\n" in self.text[container.start : first]:
                indent = self._indent_at(container.child_start(len(container.children) - 1))
                lead = "," + self.nl + indent
            else:  # a container on one line stays on one line
                indent, lead, compact = "", ", ", True
            at = last.end
        elif "\n" not in self.text.strip():  # a file on one line stays on one line
            indent, lead, compact = "", "", True
            at = container.start + 1
        else:
            outer = self._indent_at(container.start)
            indent = outer + self.unit
            lead = self.nl + indent
            at = container.start + 1
            # the closing bracket goes on its own line, at the container's indentation
            self._reparse(self.text[:at] + self.nl + outer + self.text[container.end - 1 :])
        item = json.dumps(value, ensure_ascii=False) if compact else self._dump(value, indent)
        if key is not None:
            item = json.dumps(key, ensure_ascii=False) + ": " + item
        self._reparse(self.text[:at] + lead + item + self.text[at:])

    def replace(self, node: Node, value: Any) -> None:
        old = self.text[node.start : node.end]
        text = self._dump(value, self._indent_at(node.start)) if "\n" in old else json.dumps(value, ensure_ascii=False)
        self._reparse(self.text[: node.start] + text + self.text[node.end :])

    def delete(self, container: Node, i: int) -> None:
        """Remove child i with exactly the separator `append` put before it."""
        n = len(container.children)
        if n == 1:
            a, b = container.start + 1, container.end - 1
        elif i < n - 1:
            a, b = container.child_start(i), container.child_start(i + 1)
        else:
            a, b = container.children[i - 1].end, container.children[i].end
        self._reparse(self.text[:a] + self.text[b:])


# -- the file ---------------------------------------------------------------


def read_settings(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise SettingsError(f"cannot read {path}: {e}") from e


def load_settings(path: Path, raw: bytes | None) -> Settings:
    if raw is None:
        return Settings("", path)
    try:
        return Settings(raw.decode("utf-8"), path)
    except UnicodeDecodeError as e:
        raise SettingsError(f"{path} is not UTF-8 text ({e}); nothing was changed") from e


def _backup(paths: Paths, target: Path, raw: bytes) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    dst = paths.backups / "claude-settings" / f"{stamp}-{target.name}"
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(raw)
    return dst


def edit_settings(paths: Paths, edit: Callable[[Settings], bool]) -> tuple[Path, bool, Path | None]:
    """Read, edit, back up and write settings.json; retried if the client wrote it meanwhile."""
    path = settings_path(paths)
    # A symlinked settings.json (dotfiles) keeps its link: we write the file it points to.
    target = Path(os.path.realpath(path))
    for _attempt in range(5):
        raw = read_settings(target)
        settings = load_settings(path, raw)
        if not edit(settings):
            return path, False, None
        if read_settings(target) != raw:
            continue  # someone else wrote it while we edited: start again from their version
        mode = stat.S_IMODE(target.stat().st_mode) if raw is not None else 0o644
        # Read-only on purpose (managed settings, a dotfiles checkout): replacing it would undo that.
        if raw is not None and not mode & 0o222:
            raise SettingsError(
                f"{path} is read-only; nothing was changed. Make it writable (chmod u+w) and run this again, "
                "or add the hooks to it yourself (`claude-sync hooks status` shows them)"
            )
        if raw is not None and not os.access(target, os.W_OK):
            raise SettingsError(
                f"cannot write {path} (immutable, or another user's); nothing was changed. "
                "Add the hooks to it yourself (`claude-sync hooks status` shows them)"
            )
        backup = _backup(paths, target, raw) if raw is not None else None
        try:
            atomic.write_text(target, settings.rendered(), mode=mode)
        except OSError as e:  # an immutable file (chattr +i), a read-only folder or file system
            raise SettingsError(f"cannot write {path}: {e.strerror or e}; nothing was changed") from e
        return path, True, backup
    raise SettingsError(f"{path} kept changing while it was being edited; try again")


