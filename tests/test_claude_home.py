"""The client's project folder names and live-session registry."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from claude_sync.claude_home import find_project_folder, live_sessions, project_folder_name


@pytest.mark.parametrize(
    "cwd,expected",
    [
        ("/home/a/my.proj", "-home-a-my-proj"),
        ("C:\\Users\\x\\proj", "C--Users-x-proj"),
        ("/home/a/caf\u00e9", "-home-a-caf-"),
        ("/home/a/\U0001f600", "-home-a---"),  # an emoji is two UTF-16 units
        ("/a/b_c", "-a-b-c"),
    ],
)
def test_folder_name_follows_the_clients_rule(cwd, expected):
    assert project_folder_name(cwd) == expected


JS = """
const p = process.argv[1];
let enc = ""; for (const ch of p.split("")) enc += /[A-Za-z0-9]/.test(ch) ? ch : "-";
let h = 0; for (let i = 0; i < p.length; i++) h = (h * 31 + p.charCodeAt(i)) | 0;
console.log(enc.length > 200 ? enc.slice(0, 200) + "-" + Math.abs(h).toString(36) : enc);
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("depth", [1, 8, 12])
def test_long_folder_names_hash_like_the_javascript_client(depth):
    cwd = "/home/user/" + "/".join(["s\u00fcbfolder-with-a-long-name"] * depth)
    node = subprocess.run(["node", "-e", JS, cwd], capture_output=True, text=True, check=True).stdout.strip()
    assert project_folder_name(cwd) == node


def test_existing_long_name_variant_is_found(tmp_path):
    cwd = "/home/u/" + "x" * 250
    name = project_folder_name(cwd)
    variant = tmp_path / (name[:200] + "-othersuffix")
    variant.mkdir()
    assert find_project_folder(tmp_path, cwd) == variant


def test_live_sessions_are_those_of_running_pids(tmp_path):
    reg = tmp_path / "sessions"
    reg.mkdir()
    (reg / f"{os.getpid()}.json").write_text(json.dumps({"pid": os.getpid(), "sessionId": "live"}))
    (reg / "999999999.json").write_text(json.dumps({"pid": 999999999, "sessionId": "dead"}))
    (reg / "bad.json").write_text("{not json")
    assert live_sessions(tmp_path) == {"live": os.getpid()}
