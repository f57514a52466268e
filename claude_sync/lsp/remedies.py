"""What the user can do about an error, as data: the extension shows each remedy as a button.

The core's messages are written for the terminal and sometimes end in a command line
(`claude-sync token set`); an extension user has no such CLI, so those hints are cut off
here and the remedy takes their place.
"""

from __future__ import annotations

import re
from typing import Literal, TypedDict

RemedyId = Literal["configureDevice", "changeUrl", "setToken", "joinEncryption", "showDetails"]
Backend = Literal["git", "server"]


class Remedy(TypedDict, total=False):
    id: RemedyId
    title: str
    backend: Backend  # for changeUrl: which remote's URL to set


def configure_device() -> Remedy:
    return {"id": "configureDevice", "title": "Configure Device"}


def change_url(backend: Backend, title: str = "Change URL") -> Remedy:
    return {"id": "changeUrl", "title": title, "backend": backend}


def set_token() -> Remedy:
    return {"id": "setToken", "title": "Set Token"}


def join_encryption(title: str = "Join Encryption") -> Remedy:
    return {"id": "joinEncryption", "title": title}


def show_details() -> Remedy:
    return {"id": "showDetails", "title": "Show Details"}


def choose_remote() -> list[Remedy]:
    return [change_url("git", "Set Git Repository URL"), change_url("server", "Set Server URL")]


# ": run `claude-sync configure ...` (...)", "; set a valid one with `claude-sync token set`" and
# "(configure the CA ... with `claude-sync configure --ca-bundle FILE`)": the clause, with the
# parenthesis that explains it.
_CLI_PARENTHESIS = re.compile(r"\s*\([^()]*`claude-sync[^`]*`[^()]*\)")
_CLI_CLAUSE = re.compile(r"\s*[:;,]?\s*[^:;,()]*`claude-sync[^`]*`[^:;,()]*(\s*\([^()]*\))?")


def without_cli_hints(message: str) -> str:
    """The message without the command lines it suggests to a terminal user."""
    text = _CLI_PARENTHESIS.sub("", message)
    text = _CLI_CLAUSE.sub("", text)
    return text.strip().rstrip(":;,").strip() or message
