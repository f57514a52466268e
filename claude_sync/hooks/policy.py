"""`claude-sync hooks install | remove | status`: which hooks we put into the client's settings.json.

Two entries, SessionStart and SessionEnd, each running the launcher (launcher.py), which runs
runner.py. Our entries are recognised by the launcher's file name in their command; settings.py
edits the file without touching anything else, so `remove` after `install` gives back the very
file that was there before.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import atomic
from ..config import Paths
from ..format.errors import ConfigError
from .launcher import LAUNCHER_NAME, LauncherSpec, check_launcher, launcher_path, read_python, write_launcher
from .runner import HOOK_LOG, Outbox
from .settings import Node, Settings, SettingsError, edit_settings, load_settings, read_settings, settings_path

EVENTS = {"SessionStart": "session-start", "SessionEnd": "session-end"}
# SessionEnd hooks share the client's 1.5 s and get no timeout of their own. SessionStart bounds its
# own wait (config hook_pull_timeout, at most 60 s); this outer bound, enforced by the client, is above it.
START_TIMEOUT = 75
INSTALLED, OUTDATED, MISSING = "installed", "outdated", "missing"


def wanted_hook(spec: LauncherSpec, event: str) -> dict[str, Any]:
    hook: dict[str, Any] = {"type": "command", "command": spec.command(EVENTS[event])}
    if event == "SessionStart":
        hook["timeout"] = START_TIMEOUT
    return hook


def is_ours(hook: Any) -> bool:
    return isinstance(hook, dict) and isinstance(hook.get("command"), str) and LAUNCHER_NAME in hook["command"]


# -- our entries in settings.json ----------------------------------------------


def check(settings: Settings) -> None:
    """Raise SettingsError unless our edits would find the shape the client expects."""
    for name in EVENTS:
        settings.event(name)

def ours(settings: Settings) -> list[tuple[str, Node, Node, Node]]:
    """(event, event list, group, hook) for each of our hooks, in file order."""
    out: list[tuple[str, Node, Node, Node]] = []
    hooks = settings.hooks()
    for name, ev in zip(hooks.keys, hooks.children) if hooks else ():
        if ev.kind != "array":
            continue
        for group in ev.children:
            inner = group.get("hooks") if group.kind == "object" else None
            if inner is None or inner.kind != "array":
                continue
            out.extend((name, ev, group, h) for h in inner.children if h.kind == "object" and is_ours(settings.value(h)))
    return out

def add_ours(settings: Settings, spec: LauncherSpec) -> bool:
    """Make our two hooks present and current; True when the text changed."""
    before = settings.text
    for name in EVENTS:
        wanted = wanted_hook(spec, name)
        group = {"matcher": "", "hooks": [wanted]}
        hooks = settings.hooks()
        if hooks is None:
            settings.append(settings.root, {name: [group]}, key="hooks")
            continue
        ev = settings.event(name)
        if ev is None:
            settings.append(hooks, [group], key=name)
            continue
        mine = [o for o in ours(settings) if o[0] == name]
        if not mine:
            settings.append(ev, group)
            continue
        if settings.value(mine[0][3]) != wanted:
            settings.replace(mine[0][3], wanted)
        while len(mine := [o for o in ours(settings) if o[0] == name]) > 1:
            _remove_one(settings, *mine[-1])  # a duplicate (two installs merged by hand, say)
    return settings.text != before

def remove_ours(settings: Settings, keep: frozenset[str] = frozenset()) -> bool:
    """Take out our hooks; `keep` names containers ("hooks", an event) the user had
    before install, which stay even when they end up empty."""
    before = settings.text
    while mine := ours(settings):
        _remove_one(settings, *mine[0], keep=keep)
    return settings.text != before

def containers(settings: Settings) -> frozenset[str]:
    """The hook containers present now: "hooks" and the names of our events."""
    if settings.hooks() is None:
        return frozenset()
    return frozenset({"hooks"} | {name for name in EVENTS if settings.event(name) is not None})

def _remove_one(settings: Settings, name: str, ev: Node, group: Node, hook: Node, keep: frozenset[str] = frozenset()) -> None:
    hooks = settings.hooks()
    assert hooks is not None
    inner = group.get("hooks")
    assert inner is not None
    if len(inner.children) > 1:
        settings.delete(inner, inner.children.index(hook))
    elif len(ev.children) > 1 or name in keep:
        settings.delete(ev, ev.children.index(group))
    elif len(hooks.children) > 1 or "hooks" in keep:
        settings.delete(hooks, hooks.children.index(ev))
    else:
        settings.delete(settings.root, settings.root.children.index(hooks))

def event_status(settings: Settings, spec: LauncherSpec) -> dict[str, str]:
    out = {}
    for name in EVENTS:
        mine = [o for o in ours(settings) if o[0] == name]
        if not mine:
            out[name] = MISSING
        else:
            out[name] = INSTALLED if len(mine) == 1 and settings.value(mine[0][3]) == wanted_hook(spec, name) else OUTDATED
    return out


# -- install, remove, status -----------------------------------------------------


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


def install(paths: Paths, libs: tuple[str, ...] = (), python: str | None = None, verify: bool = True) -> SettingsChange:
    """Write (or refresh) the launcher, check that it runs, then add our hooks to settings.json."""
    spec = LauncherSpec.current(paths.data, libs, python)
    # Refuse a malformed settings.json before writing anything at all.
    check(load_settings(settings_path(paths), read_settings(Path(os.path.realpath(settings_path(paths))))))
    launcher_changed = write_launcher(spec)
    if verify:
        problem = check_launcher(spec.path)
        if problem:
            raise ConfigError(f"the hook launcher cannot load claude-sync: {problem}")
    _remember_containers(paths)
    path, changed, backup = edit_settings(paths, lambda s: add_ours(s, spec))
    return SettingsChange(path, changed, backup, spec.path, launcher_changed)


def _containers_file(paths: Paths) -> Path:
    return paths.data / "hooks-install.json"


def _remember_containers(paths: Paths) -> None:
    """Before our first install, note which hook containers the user already had, so that
    remove gives back an empty `"hooks": {}` or `"SessionEnd": []` they had written."""
    f = _containers_file(paths)
    settings = load_settings(settings_path(paths), read_settings(Path(os.path.realpath(settings_path(paths)))))
    if ours(settings):
        return  # installed already: what is there now is partly ours
    atomic.write_text(f, json.dumps({"settings": str(settings_path(paths)), "keep": sorted(containers(settings))}))


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
    path, changed, backup = edit_settings(paths, lambda s: remove_ours(s, keep))
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
        events = event_status(load_settings(path, read_settings(Path(os.path.realpath(path)))), spec)
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
