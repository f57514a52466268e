"""`claude-sync hooks install | remove | status` against settings.json files that hold the user's own things."""

from __future__ import annotations

import difflib
import json
import os
import subprocess
from pathlib import Path

import pytest

from claude_sync.config import Paths
from claude_sync.format.errors import ConfigError
from claude_sync.hooks import policy as hooks
from claude_sync.hooks.launcher import LAUNCHER_NAME, launcher_path
from claude_sync.hooks.settings import SettingsError

# What the client itself writes (JSON.stringify(..., null, 2)), with the user's hooks and other keys.
CLIENT_STYLE = (
    json.dumps(
        {
            "model": "opus",
            "permissions": {"allow": ["Bash(npm test:*)"], "deny": []},
            "env": {"FOO": "bär ✓"},
            "hooks": {
                "SessionStart": [{"matcher": "startup", "hooks": [{"type": "command", "command": "echo hi"}]}],
                "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "~/bin/guard.sh"}]}],
                "SessionEnd": [{"matcher": "", "hooks": [{"type": "command", "command": "notify-send bye", "timeout": 5}]}],
            },
            "statusLine": {"type": "command", "command": "~/.claude/statusline.sh"},
        },
        indent=2,
        ensure_ascii=False,
    )
    + "\n"
)

# Hand-written: tabs, a one-line list, odd spacing, no newline at the end.
HAND_STYLE = (
    '{\n\t"theme":"dark" ,\n\t"hooks": {\n\t\t"SessionEnd": [ {"hooks": [{"type": "command", "command": "true"}]} ],'
    '\n\t\t"Stop": []\n\t},\n\t"numbers": [1, 2.5e3, -0.0, true, null]\n}'
)


@pytest.fixture
def paths(isolated_home: Path) -> Paths:
    p = Paths.current()
    p.claude.mkdir(parents=True)
    return p


def settings(paths: Paths) -> Path:
    return paths.claude / "settings.json"


def ours(data: dict) -> dict[str, list[dict]]:
    return {
        event: [h for g in groups for h in g.get("hooks", []) if LAUNCHER_NAME in h.get("command", "")]
        for event, groups in data.get("hooks", {}).items()
    }


def without_ours(data: dict) -> dict:
    """The settings with our groups taken out (what the user had)."""
    out = json.loads(json.dumps(data))
    for event, groups in list(out.get("hooks", {}).items()):
        out["hooks"][event] = [
            g for g in groups if not any(LAUNCHER_NAME in h.get("command", "") for h in g.get("hooks", []))
        ]
    return out


def only_insertions(old: str, new: str) -> bool:
    ops = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
    return all(tag in ("equal", "insert") for tag, *_ in ops)


@pytest.mark.parametrize(
    "original", [CLIENT_STYLE, HAND_STYLE, CLIENT_STYLE.replace("\n", "\r\n")], ids=["client-style", "hand-written", "crlf"]
)
def test_install_adds_our_two_hooks_and_changes_no_byte_of_the_users(paths: Paths, original: str) -> None:
    settings(paths).write_bytes(original.encode())

    change = hooks.install(paths)

    new = settings(paths).read_bytes().decode()
    assert change.changed
    assert only_insertions(original, new), "a byte of the user's file changed"
    data = json.loads(new)
    mine = ours(data)
    assert [h["command"] for h in mine["SessionStart"]] == [f"{launcher_path(paths.data)} session-start"]
    assert [h["command"] for h in mine["SessionEnd"]] == [f"{launcher_path(paths.data)} session-end"]
    before = json.loads(original)
    after = without_ours(data)
    for event in ("SessionStart", "SessionEnd"):
        if not after["hooks"].get(event) and event not in before["hooks"]:
            after["hooks"].pop(event)
    assert after == before


@pytest.mark.parametrize(
    "original",
    [
        CLIENT_STYLE,
        HAND_STYLE,
        CLIENT_STYLE.replace("\n", "\r\n"),
        "",
        "{}",
        '{"model": "opus"}\n',
        '{"a": {}, "hooks": {}}',
        '{\n  "hooks": {\n    "SessionEnd": []\n  }\n}\n',
    ],
)
def test_remove_after_install_gives_back_the_very_same_file(paths: Paths, original: str) -> None:
    settings(paths).write_bytes(original.encode())
    hooks.install(paths)

    change = hooks.remove(paths)

    assert change.changed
    want = original if original.strip() else "{}\n"
    assert settings(paths).read_bytes().decode() == want
    assert not launcher_path(paths.data).exists()


def test_install_twice_changes_nothing_the_second_time(paths: Paths) -> None:
    settings(paths).write_text(CLIENT_STYLE, encoding="utf-8")
    hooks.install(paths)
    once = settings(paths).read_bytes()
    backups = sorted((paths.backups / "claude-settings").iterdir())

    change = hooks.install(paths)

    assert not change.changed and change.backup is None
    assert settings(paths).read_bytes() == once
    assert sorted((paths.backups / "claude-settings").iterdir()) == backups
    assert {e: len(h) for e, h in ours(json.loads(once)).items() if h} == {"SessionStart": 1, "SessionEnd": 1}


def test_every_write_backs_up_the_previous_file(paths: Paths) -> None:
    settings(paths).write_text(CLIENT_STYLE, encoding="utf-8")

    installed = hooks.install(paths)
    assert installed.backup is not None and installed.backup.read_text("utf-8") == CLIENT_STYLE
    assert installed.backup.is_relative_to(paths.data / "backups")

    with_hooks = settings(paths).read_bytes()
    removed = hooks.remove(paths)
    assert removed.backup is not None and removed.backup.read_bytes() == with_hooks


def test_install_without_a_settings_file_creates_one_and_needs_no_backup(paths: Paths) -> None:
    change = hooks.install(paths)

    assert change.changed and change.backup is None
    assert set(ours(json.loads(settings(paths).read_text()))) == {"SessionStart", "SessionEnd"}


@pytest.mark.parametrize(
    ("bad", "remove_refuses"),
    [
        ('{"hooks": {"SessionEnd": [}', True),  # not JSON
        ('{"model": "opus",}', True),  # trailing comma
        ("[1, 2]", True),  # not an object
        ('{"hooks": ["SessionEnd"]}', True),  # hooks not an object
        ('{"hooks": {"SessionStart": {"matcher": ""}}}', False),  # an event not a list: nothing of ours to remove
    ],
)
def test_malformed_settings_are_reported_and_left_untouched(paths: Paths, bad: str, remove_refuses: bool) -> None:
    settings(paths).write_text(bad, encoding="utf-8")

    with pytest.raises(SettingsError) as err:
        hooks.install(paths)

    assert str(settings(paths)) in str(err.value)
    assert settings(paths).read_bytes().decode() == bad
    assert not launcher_path(paths.data).exists()
    assert not (paths.backups / "claude-settings").exists()
    if remove_refuses:
        with pytest.raises(SettingsError):
            hooks.remove(paths)
    else:
        assert not hooks.remove(paths).changed
    assert settings(paths).read_bytes().decode() == bad


def test_malformed_settings_through_the_cli_exit_2_and_status_says_why(paths: Paths, isolated_home: Path) -> None:
    from tests.support.devices import REPO

    settings(paths).write_text("{nope", encoding="utf-8")
    env = {**os.environ, "HOME": str(isolated_home)}
    run = subprocess.run(
        [os.sys.executable, "-m", "claude_sync", "hooks", "install"],  # type: ignore[attr-defined]
        env=env, cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 2
    assert "not valid JSON" in run.stderr and "nothing was changed" in run.stderr
    st = subprocess.run(
        [os.sys.executable, "-m", "claude_sync", "hooks", "status", "--json"],  # type: ignore[attr-defined]
        env=env, cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert st.returncode == 0
    assert "not valid JSON" in json.loads(st.stdout)["error"]
    assert settings(paths).read_bytes().decode() == "{nope"


def test_remove_takes_out_only_our_hooks_even_from_a_group_the_user_shares(paths: Paths) -> None:
    hooks.install(paths)
    data = json.loads(settings(paths).read_text())
    # The user moved their own hook into our SessionEnd group and added a hook of their own.
    data["hooks"]["SessionEnd"][0]["hooks"].append({"type": "command", "command": "echo mine"})
    data["hooks"]["Stop"] = [{"hooks": [{"type": "command", "command": "echo stop"}]}]
    settings(paths).write_text(json.dumps(data, indent=2))

    hooks.remove(paths)

    left = json.loads(settings(paths).read_text())
    assert left == {
        "hooks": {
            "SessionEnd": [{"matcher": "", "hooks": [{"type": "command", "command": "echo mine"}]}],
            "Stop": [{"hooks": [{"type": "command", "command": "echo stop"}]}],
        }
    }


def test_remove_without_our_hooks_leaves_the_file_alone(paths: Paths) -> None:
    settings(paths).write_text(CLIENT_STYLE, encoding="utf-8")
    mtime = settings(paths).stat().st_mtime_ns

    change = hooks.remove(paths)

    assert not change.changed and change.backup is None
    assert settings(paths).read_bytes().decode() == CLIENT_STYLE
    assert settings(paths).stat().st_mtime_ns == mtime


def test_status_tells_installed_outdated_and_missing(paths: Paths) -> None:
    assert hooks.status(paths)["events"] == {"SessionStart": "missing", "SessionEnd": "missing"}
    assert not hooks.status(paths)["installed"]

    hooks.install(paths)
    st = hooks.status(paths)
    assert st["installed"] and st["events"] == {"SessionStart": "installed", "SessionEnd": "installed"}
    assert st["launcher"]["exists"] and st["launcher"]["python_exists"]
    assert st["outbox"]["pending"] == 0

    # An older install wrote another command (say, a data dir elsewhere): install updates it in place.
    text = settings(paths).read_text().replace(f"{launcher_path(paths.data)} session-end", f"/old/bin/{LAUNCHER_NAME} session-end")
    settings(paths).write_text(text)
    assert hooks.status(paths)["events"]["SessionEnd"] == "outdated"
    hooks.install(paths)
    assert hooks.status(paths)["events"]["SessionEnd"] == "installed"
    assert len(ours(json.loads(settings(paths).read_text()))["SessionEnd"]) == 1


def test_a_symlinked_settings_file_keeps_its_link(paths: Paths, tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "claude-settings.json"
    real.parent.mkdir()
    real.write_text(CLIENT_STYLE)
    settings(paths).symlink_to(real)

    hooks.install(paths)

    assert settings(paths).is_symlink()
    assert set(ours(json.loads(real.read_text()))) >= {"SessionStart", "SessionEnd"}


def test_settings_follow_claude_config_dir(paths: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "elsewhere"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(other))

    hooks.install(Paths.current())

    assert (other / "settings.json").exists()
    assert not settings(paths).exists()


def test_reinstall_refreshes_the_launcher_with_new_library_folders(paths: Paths, tmp_path: Path) -> None:
    hooks.install(paths)
    old_libs, new_libs = tmp_path / "ext-1.0" / "libs", tmp_path / "ext-1.1" / "libs"
    old_libs.mkdir(parents=True)
    new_libs.mkdir(parents=True)
    hooks.install(paths, libs=(str(old_libs),))
    settings_before = settings(paths).read_bytes()

    change = hooks.install(paths, libs=(str(new_libs),))

    text = launcher_path(paths.data).read_text()
    assert change.launcher_changed and not change.changed
    assert str(new_libs) in text and str(old_libs) not in text
    assert settings(paths).read_bytes() == settings_before
    assert not hooks.status(paths)["launcher"]["current"]  # this process would run it without those folders
    hooks.install(paths)
    assert hooks.status(paths)["launcher"]["current"]


def test_a_launcher_whose_python_is_gone_exits_0_and_says_so_in_the_log(paths: Paths, tmp_path: Path) -> None:
    hooks.install(paths, python=str(tmp_path / "gone" / "python3"), verify=False)

    run = subprocess.run(
        [str(launcher_path(paths.data)), "session-end"], input=b'{"session_id": "x"}', capture_output=True, timeout=30
    )

    assert run.returncode == 0 and run.stdout == b""
    assert "is gone" in (paths.data / "hook.log").read_text()


def test_install_refuses_a_launcher_that_cannot_load_the_tool(paths: Paths, tmp_path: Path) -> None:
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\necho 'ModuleNotFoundError: no module named pydantic' >&2\nexit 1\n")
    fake.chmod(0o755)
    settings(paths).write_text(CLIENT_STYLE)

    with pytest.raises(ConfigError, match="pydantic"):
        hooks.install(paths, python=str(fake))

    assert settings(paths).read_text() == CLIENT_STYLE


def test_cli_install_status_remove_in_json(paths: Paths, isolated_home: Path) -> None:
    from tests.support.devices import REPO

    settings(paths).write_text(CLIENT_STYLE)
    env = {**os.environ, "HOME": str(isolated_home)}

    def cli(*args: str) -> dict:
        r = subprocess.run(
            [os.sys.executable, "-m", "claude_sync", "hooks", *args, "--json"],  # type: ignore[attr-defined]
            env=env, cwd=REPO, capture_output=True, text=True, timeout=60,
        )
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    assert cli("install")["changed"]
    assert cli("status")["installed"]
    assert cli("remove")["changed"]
    assert not cli("status")["installed"]
    assert settings(paths).read_text() == CLIENT_STYLE
