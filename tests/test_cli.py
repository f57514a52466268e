"""The `claude-sync` command line as a user (and the extension and hooks) calls it."""

from __future__ import annotations

import json

from tests.support.devices import REPO, Device


def test_sessions_json_groups_by_project(devices):
    a, _ = devices
    s1 = a.rich_session("acme/api")
    s2 = a.rich_session("acme/web")
    groups = a.cli_json("sessions")
    by_key = {g["project_key"]: g for g in groups}
    assert set(by_key) == {"acme/api", "acme/web"}
    [sess] = by_key["acme/api"]["sessions"]
    assert sess["session_id"] == s1.session_id and sess["message_count"] > 0 and sess["size"] > 0
    assert sess["title"].startswith("Create hello.py")
    assert by_key["acme/web"]["sessions"][0]["session_id"] == s2.session_id


def test_push_pull_and_remote_through_the_cli(devices):
    a, b = devices
    s = a.rich_session()
    r = a.cli("push", "--all")
    assert r.returncode == 0, r.stderr
    assert "push: 1 done, 0 skipped, 0 failed" in r.stdout
    assert f"[1/1] {s.session_id[:8]} acme/api: done" in r.stderr
    [entry] = b.cli_json("remote")
    assert entry["session_id"] == s.session_id and entry["device"] == "alpha" and entry["project_key"] == "acme/api"
    assert str(a.home) not in entry["title"]
    summary = b.cli_json("pull", s.session_id[:6])
    assert summary["done"] == 1 and summary["outcomes"][0]["session_id"] == s.session_id


def test_exit_code_is_1_when_some_sessions_failed(devices):
    a, _ = devices
    a.rich_session()
    r = a.cli("push", "no-such-id")
    assert r.returncode == 1
    assert "failed: no-such-id: no such session" in r.stdout


def test_usage_and_configuration_errors_exit_2(tmp_path):
    dev = Device(tmp_path, "alpha", "code")
    assert dev.cli("push").returncode == 2  # nothing selected
    assert dev.cli("push", "--all", "--project", "x").returncode == 2
    r = dev.cli("push", "--all")  # no repository configured
    assert r.returncode == 2 and "no Git repository configured" in r.stderr
    fresh = Device(tmp_path, "beta", "code")
    fresh.paths.config_file.unlink()
    r = fresh.cli("sessions")
    assert r.returncode == 2 and "not configured yet" in r.stderr
    fresh.paths.config_file.write_text("{broken")
    r = fresh.cli("sessions")
    assert r.returncode == 2 and "not a valid configuration" in r.stderr


def test_configure_writes_and_updates_config_json(tmp_path):
    dev = Device(tmp_path, "alpha", "code")
    dev.paths.config_file.unlink()
    r = dev.cli("configure", "--projects-root", "~/code")
    assert r.returncode == 0, r.stderr
    cfg = json.loads(dev.paths.config_file.read_text())
    assert cfg["projects_root"] == str(dev.home / "code") and cfg["device"]
    dev.cli("configure", "--device", "laptop", "--git-url", "git@example.invalid:me/sessions.git")
    cfg = json.loads(dev.paths.config_file.read_text())
    assert cfg["device"] == "laptop" and cfg["git_url"].startswith("git@") and cfg["backend"] == "git"
    assert cfg["projects_root"] == str(dev.home / "code")
    r = dev.cli("configure", "--projects-root", "tests")  # relative to the working directory (the repository)
    assert r.returncode == 0, r.stderr
    assert json.loads(dev.paths.config_file.read_text())["projects_root"] == str(REPO / "tests")
    assert "warning" not in r.stderr
    r = dev.cli("configure", "--projects-root", "~/does-not-exist")
    assert r.returncode == 0 and "warning: the projects root" in r.stderr and "does not exist" in r.stderr
    r = dev.cli("configure", "--device", "bad/name")
    assert r.returncode == 2


def test_first_configure_needs_a_projects_root(tmp_path):
    dev = Device(tmp_path, "alpha", "code")
    dev.paths.config_file.unlink()
    r = dev.cli("configure", "--device", "x")
    assert r.returncode == 2 and "--projects-root" in r.stderr


# Terminal escapes: ESC sequences (OSC 0 sets the window title, OSC 52 writes the clipboard, CSI clears
# the screen), a carriage return that overwrites the line, a C1 CSI, and a right-to-left override.
TERMINAL_TRICKS = "\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\x1b[2J\rfake\x9b31m\u202etxt.exe"


def test_what_a_remote_names_reaches_the_terminal_as_text_not_as_escapes(devices):
    a, b = devices
    s = a.session("acme/api").user(f"title {TERMINAL_TRICKS} end").write()
    assert a.cli("push", "--all").returncode == 0
    for dev, command in [(b, "remote"), (a, "sessions")]:
        r = dev.cli(command)
        assert r.returncode == 0, r.stderr
        shown = [line for line in r.stdout.splitlines() if s.session_id[:8] in line]
        assert shown and "title \\u001b]0;pwned\\u0007" in shown[0] and "\\u202etxt.exe end" in shown[0], r.stdout
        for out in (r.stdout, r.stderr):
            assert not any(c in out for c in "\x1b\x07\r\x9b\u202e"), repr(out)
    # --json stays JSON and says exactly what the remote holds
    [entry] = b.cli_json("remote")
    assert entry["title"] == f"title {TERMINAL_TRICKS} end".replace("\r", " ")  # a title is one line
    assert "\x9b" not in b.cli("remote", "--json").stdout
