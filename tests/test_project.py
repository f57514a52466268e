"""Project keys: a working directory relative to the projects root, else to home, and back."""

from __future__ import annotations

import pytest

from claude_sync.format.errors import NotPortable
from claude_sync.format.tokens import Flavour
from claude_sync.project import cwd_for_key, project_key_for


@pytest.mark.parametrize(
    "cwd,key",
    [
        ("/home/a/code/acme/api", "acme/api"),
        ("/home/a/code/acme/api/src", "acme/api/src"),
        ("/home/a/scratch", "~/scratch"),
        ("/home/a/code", "."),
    ],
)
def test_project_key_is_relative_to_projects_root_then_home(cwd, key):
    assert project_key_for(cwd, "/home/a/code", "/home/a", Flavour.POSIX) == key
    assert cwd_for_key(key, "/Users/b/work", "/Users/b", Flavour.POSIX).startswith("/Users/b")


def test_windows_project_key_ignores_case_and_uses_backslashes_back():
    key = project_key_for("c:\\Users\\X\\Code\\acme\\api", "C:\\Users\\x\\code", "C:\\Users\\x", Flavour.WINDOWS)
    assert key == "acme/api"
    assert cwd_for_key(key, "D:\\src", "D:\\Users\\y", Flavour.WINDOWS) == "D:\\src\\acme\\api"


def test_directory_outside_home_and_root_has_no_key():
    with pytest.raises(NotPortable):
        project_key_for("/opt/data/x", "/home/a/code", "/home/a", Flavour.POSIX)


@pytest.mark.parametrize("key", ["../etc", "acme/../../x", "~/../root", "a//b", "C:/x"])
def test_keys_that_would_leave_the_root_are_refused(key):
    with pytest.raises(NotPortable):
        cwd_for_key(key, "/home/b/code", "/home/b", Flavour.POSIX)


@pytest.mark.parametrize("name", ["line\nbreak", "tab\there", "\x1b[31mred", "del\x7f", "c1\x9b"])
def test_a_control_character_makes_no_key_here_and_is_refused_from_a_remote(name):
    with pytest.raises(NotPortable, match="control character"):
        project_key_for(f"/home/a/code/{name}", "/home/a/code", "/home/a", Flavour.POSIX)
    for key in [f"acme/{name}", f"~/{name}", f"git:github.com/a/{name}"]:
        with pytest.raises(NotPortable, match="control character"):
            cwd_for_key(key, "/home/b/code", "/home/b", Flavour.POSIX)
