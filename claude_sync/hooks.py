"""`claude-sync hooks install | remove | status`: our entries in the client's settings.json.

settings.json belongs to the user. Edits are made on the text itself, at the spans of the values
they touch, so every byte that is not ours stays as it was (key order, formatting, other hooks),
and `remove` after `install` gives back the very file that was there before. Our entries are
recognised by the launcher's file name in their command. A file that is not valid JSON, or whose
`hooks` is not shaped as the client expects, is reported and never written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import atomic
from .config import Paths
from .format.errors import ConfigError
from .hook_runner import HOOK_LOG, Outbox
from .launcher import LAUNCHER_NAME, LauncherSpec, check_launcher, launcher_path, read_python, write_launcher

SETTINGS = "settings.json"
EVENTS = {"SessionStart": "session-start", "SessionEnd": "session-end"}
# SessionEnd hooks share the client's 1.5 s and get no timeout of their own. SessionStart bounds its
# own wait (config hook_pull_timeout, at most 60 s); this outer bound, enforced by the client, is above it.
START_TIMEOUT = 75
INSTALLED, OUTDATED, MISSING = "installed", "outdated", "missing"


class SettingsError(ConfigError):
    """settings.json cannot be read as the client's settings: we leave it alone."""

    code = "settings_error"


def settings_path(paths: Paths) -> Path:
    return paths.claude / SETTINGS


def wanted_hook(spec: LauncherSpec, event: str) -> dict[str, Any]:
    hook: dict[str, Any] = {"type": "command", "command": spec.command(EVENTS[event])}
    if event == "SessionStart":
        hook["timeout"] = START_TIMEOUT
    return hook


def is_ours(hook: Any) -> bool:
    return isinstance(hook, dict) and isinstance(hook.get("command"), str) and LAUNCHER_NAME in hook["command"]


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

    def check(self) -> None:
        """Raise SettingsError unless our edits would find the shape the client expects."""
        for name in EVENTS:
            self.event(name)

    def ours(self) -> list[tuple[str, Node, Node, Node]]:
        """(event, event list, group, hook) for each of our hooks, in file order."""
        out: list[tuple[str, Node, Node, Node]] = []
        hooks = self.hooks()
        for name, ev in zip(hooks.keys, hooks.children) if hooks else ():
            if ev.kind != "array":
                continue
            for group in ev.children:
                inner = group.get("hooks") if group.kind == "object" else None
                if inner is None or inner.kind != "array":
                    continue
                out.extend((name, ev, group, h) for h in inner.children if h.kind == "object" and is_ours(self.value(h)))
        return out

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

    # -- what install and remove do

    def install(self, spec: LauncherSpec) -> bool:
        """Make our two hooks present and current; True when the text changed."""
        before = self.text
        for name in EVENTS:
            wanted = wanted_hook(spec, name)
            group = {"matcher": "", "hooks": [wanted]}
            hooks = self.hooks()
            if hooks is None:
                self.append(self.root, {name: [group]}, key="hooks")
                continue
            ev = self.event(name)
            if ev is None:
                self.append(hooks, [group], key=name)
                continue
            mine = [o for o in self.ours() if o[0] == name]
            if not mine:
                self.append(ev, group)
                continue
            if self.value(mine[0][3]) != wanted:
                self.replace(mine[0][3], wanted)
            while len(mine := [o for o in self.ours() if o[0] == name]) > 1:
                self._remove_one(*mine[-1])  # a duplicate (two installs merged by hand, say)
        return self.text != before

    def remove(self, keep: frozenset[str] = frozenset()) -> bool:
        """Take out our hooks; `keep` names containers ("hooks", an event) the user had
        before install, which stay even when they end up empty."""
        before = self.text
        while mine := self.ours():
            self._remove_one(*mine[0], keep=keep)
        return self.text != before

    def containers(self) -> frozenset[str]:
        """The hook containers present now: "hooks" and the names of our events."""
        if self.hooks() is None:
            return frozenset()
        return frozenset({"hooks"} | {name for name in EVENTS if self.event(name) is not None})

    def _remove_one(self, name: str, ev: Node, group: Node, hook: Node, keep: frozenset[str] = frozenset()) -> None:
        hooks = self.hooks()
        assert hooks is not None
        inner = group.get("hooks")
        assert inner is not None
        if len(inner.children) > 1:
            self.delete(inner, inner.children.index(hook))
        elif len(ev.children) > 1 or name in keep:
            self.delete(ev, ev.children.index(group))
        elif len(hooks.children) > 1 or "hooks" in keep:
            self.delete(hooks, hooks.children.index(ev))
        else:
            self.delete(self.root, self.root.children.index(hooks))

    def status(self, spec: LauncherSpec) -> dict[str, str]:
        out = {}
        for name in EVENTS:
            mine = [o for o in self.ours() if o[0] == name]
            if not mine:
                out[name] = MISSING
            else:
                out[name] = INSTALLED if len(mine) == 1 and self.value(mine[0][3]) == wanted_hook(spec, name) else OUTDATED
        return out


# -- the file ---------------------------------------------------------------


@dataclass
class SettingsChange:
    settings: Path
    changed: bool
    backup: Path | None = None
    launcher: Path | None = None
    launcher_changed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": str(self.settings),
            "changed": self.changed,
            "backup": str(self.backup) if self.backup else None,
            "launcher": str(self.launcher) if self.launcher else None,
            "launcher_changed": self.launcher_changed,
        }


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise SettingsError(f"cannot read {path}: {e}") from e


def _load(path: Path, raw: bytes | None) -> Settings:
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


def _edit(paths: Paths, edit: Any) -> tuple[Path, bool, Path | None]:
    """Read, edit, back up and write settings.json; retried if the client wrote it meanwhile."""
    path = settings_path(paths)
    # A symlinked settings.json (dotfiles) keeps its link: we write the file it points to.
    target = Path(os.path.realpath(path))
    for _attempt in range(5):
        raw = _read(target)
        settings = _load(path, raw)
        if not edit(settings):
            return path, False, None
        if _read(target) != raw:
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


def install(paths: Paths, libs: tuple[str, ...] = (), python: str | None = None, verify: bool = True) -> SettingsChange:
    """Write (or refresh) the launcher, check that it runs, then add our hooks to settings.json."""
    spec = LauncherSpec.current(paths.data, libs, python)
    # Refuse a malformed settings.json before writing anything at all.
    _load(settings_path(paths), _read(Path(os.path.realpath(settings_path(paths))))).check()
    launcher_changed = write_launcher(spec)
    if verify:
        problem = check_launcher(spec.path)
        if problem:
            raise ConfigError(f"the hook launcher cannot load claude-sync: {problem}")
    _remember_containers(paths)
    path, changed, backup = _edit(paths, lambda s: s.install(spec))
    return SettingsChange(path, changed, backup, spec.path, launcher_changed)


def _containers_file(paths: Paths) -> Path:
    return paths.data / "hooks-install.json"


def _remember_containers(paths: Paths) -> None:
    """Before our first install, note which hook containers the user already had, so that
    remove gives back an empty `"hooks": {}` or `"SessionEnd": []` they had written."""
    f = _containers_file(paths)
    settings = _load(settings_path(paths), _read(Path(os.path.realpath(settings_path(paths)))))
    if settings.ours():
        return  # installed already: what is there now is partly ours
    atomic.write_text(f, json.dumps({"settings": str(settings_path(paths)), "keep": sorted(settings.containers())}))


def _kept_containers(paths: Paths) -> frozenset[str]:
    try:
        rec = json.loads(_containers_file(paths).read_text("utf-8"))
    except (OSError, ValueError):
        return frozenset()
    if rec.get("settings") != str(settings_path(paths)):
        return frozenset()
    return frozenset(str(k) for k in rec.get("keep", []))


def remove(paths: Paths) -> SettingsChange:
    """Take our hooks out of settings.json and delete the launcher; nothing else changes."""
    keep = _kept_containers(paths)
    path, changed, backup = _edit(paths, lambda s: s.remove(keep))
    _containers_file(paths).unlink(missing_ok=True)
    lp = launcher_path(paths.data)
    removed = lp.exists()
    if removed:
        lp.unlink()
        try:
            lp.parent.rmdir()
        except OSError:
            pass
    return SettingsChange(path, changed, backup, lp, removed)


def status(paths: Paths, libs: tuple[str, ...] = ()) -> dict[str, Any]:
    path = settings_path(paths)
    lp = launcher_path(paths.data)
    python = read_python(lp)
    out: dict[str, Any] = {"settings": str(path), "error": None}
    try:
        spec = LauncherSpec.current(paths.data, (), python)
        events = _load(path, _read(Path(os.path.realpath(path)))).status(spec)
    except SettingsError as e:
        out["error"] = str(e)
        events = {}
    out["events"] = events
    out["installed"] = bool(events) and all(v == INSTALLED for v in events.values()) and lp.exists()
    try:
        text = lp.read_text("utf-8")
    except OSError:
        text = None
    out["launcher"] = {
        "path": str(lp),
        "exists": text is not None,
        "python": python,
        "python_exists": bool(python and shutil.which(python)),
        # False when it runs another interpreter or package than this process (an older extension,
        # say): `hooks install` from here refreshes it.
        "current": text == LauncherSpec.current(paths.data, libs).render(),
    }
    pending = Outbox(paths.data).pending()
    errors = [e.data["last_error"] for e in pending if e.data.get("last_error")]
    out["outbox"] = {
        "pending": len(pending),
        "sessions": [e.session_id for e in pending],
        "oldest": pending[0].data.get("queued_at") if pending else None,
        "last_error": errors[-1] if errors else None,
    }
    out["log"] = str(paths.data / HOOK_LOG)
    return out
