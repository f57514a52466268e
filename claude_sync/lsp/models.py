"""The sidecar's request params, parsed once from what pygls hands over.

pygls gives the params of custom methods as nested namedtuples with the client's camelCase
names (and `initializationOptions` as a dict); `parse` turns either into one of these models,
or into an Invalid Params error. Empty strings count as "not given".
"""

from __future__ import annotations

import os
import uuid
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from ..engine import Selection
from .errors import invalid_params

M = TypeVar("M", bound="Params")


class Params(BaseModel):
    # strict: "yes" is not a boolean and 5 is not a session id; forbid: a misspelt key is an error.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, strict=True, extra="forbid", frozen=True)


class NoParams(Params):
    model_config = ConfigDict(extra="ignore")


class SidecarOptions(Params):
    """`initializationOptions`."""

    model_config = ConfigDict(extra="ignore")

    # How long a request waits for another sync (CLI, hooks) before answering `busy`.
    lock_wait_seconds: float = Field(default=10.0, ge=0)


class EncryptionInitParams(Params):
    passphrase: str | None = None  # also unlock with this passphrase (never logged)


class EncryptionJoinParams(Params):
    secret: str = Field(min_length=1)  # the recovery phrase or the passphrase (never logged)


class ShowPhraseParams(Params):
    confirm: Literal[True]  # the extension asked the user first


class ConfigureParams(Params):
    device_name: str | None = None
    projects_root: str | None = None
    backend: Literal["git", "server"] | None = None
    git_repo_url: str | None = None
    git_branch: str | None = None
    server_url: str | None = None
    ca_bundle: str | None = None
    hook_pull_timeout: float | None = Field(default=None, ge=0, le=60)
    # Settings the user emptied on purpose (a blank value elsewhere means "keep").
    unset: list[Literal["gitRepoUrl", "serverUrl", "caBundle"]] = []

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_not_given(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("hook_pull_timeout", mode="before")
    @classmethod
    def _whole_seconds_are_seconds(cls, v: object) -> object:
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v

    def changes(self) -> dict[str, object]:
        """Config field name -> new value (None = keep)."""
        return {
            "device": self.device_name,
            "projects_root": os.path.expanduser(self.projects_root) if self.projects_root else None,
            "backend": self.backend,
            "git_url": self.git_repo_url,
            "git_branch": self.git_branch,
            "server_url": self.server_url,
            "ca_bundle": os.path.expanduser(self.ca_bundle) if self.ca_bundle else None,
            "hook_pull_timeout": self.hook_pull_timeout,
        }

    def unset_fields(self) -> tuple[str, ...]:
        names = {"gitRepoUrl": "git_url", "serverUrl": "server_url", "caBundle": "ca_bundle"}
        return tuple(names[k] for k in self.unset)


class CheckRemoteParams(Params):
    """A remote to test before it is saved; what is not given comes from config.json."""

    backend: Literal["git", "server"] | None = None
    git_repo_url: str | None = None
    git_branch: str | None = None
    server_url: str | None = None
    token: str | None = Field(default=None, repr=False)
    ca_bundle: str | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_not_given(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v


class SetTokenParams(Params):
    token: str = Field(min_length=1, repr=False)
    server_url: str | None = None  # default: the configured one


class SyncParams(Params):
    """push / pull: exactly one of sessionIds, project, all."""

    operation_id: str = Field(default_factory=lambda: uuid.uuid4().hex, min_length=1)
    session_ids: list[str] | None = None
    project: str | None = None
    all_: bool = Field(default=False, alias="all")

    @model_validator(mode="after")
    def _exactly_one(self) -> SyncParams:
        if sum([bool(self.session_ids), self.project is not None, self.all_]) != 1:
            raise ValueError("name exactly one of: sessionIds (non-empty), project, all: true")
        return self

    def selection(self) -> Selection:
        return Selection(all=self.all_, project=self.project, ids=tuple(self.session_ids or ()))


class MapRepositoryParams(Params):
    """Pin this device's checkout of a repository (a URL in any spelling, or its git: key); folder null: unpin."""

    repository: str = Field(min_length=1, max_length=2048)
    folder: str | None = None


class CloneRepositoryParams(Params):
    """Clone a repository this device has no checkout of into `parent`/<its name>, and pin it."""

    repository: str = Field(min_length=1, max_length=2048)
    parent: str = Field(min_length=1)
    url: str | None = Field(default=None, max_length=2048)


class DeleteParams(Params):
    """delete: sessions here (into the backups), on the remote (a tombstone), or everywhere."""

    session_ids: list[str] = Field(min_length=1)
    where: Literal["local", "remote", "everywhere"]


class NeverSyncParams(Params):
    """The never-sync list: read it, or add or remove projects (keys or patterns) and sessions."""

    action: Literal["list", "add", "remove"] = "list"
    projects: list[str] = []
    sessions: list[str] = []


class ListParams(Params):
    """listLocal / listRemote: an optional filter (`project:acme state:changed words`)."""

    model_config = ConfigDict(extra="ignore")
    query: str | None = None
    # listRemote only: False answers from the last listing without asking the remote.
    refresh: bool = True


class SessionParams(Params):
    session_id: str = Field(min_length=1, max_length=100)


class TranscriptParams(SessionParams):
    side: Literal["local", "remote"] = "local"
    part: int = Field(default=0, ge=0)


class CancelParams(Params):
    operation_id: str = Field(min_length=1)


class HooksParams(Params):
    action: Literal["status", "install", "remove"] = "status"


def plain(value: Any) -> Any:
    """Namedtuples (pygls' view of JSON objects) back into dicts, recursively."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def parse(model: type[M], params: Any) -> M:
    raw = plain(params)
    if raw is None or raw == [] or raw == [None]:  # vscode-jsonrpc sends [null] for an undefined param
        raw = {}
    if not isinstance(raw, dict):
        raise invalid_params("params must be an object", [])
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        problems = [
            {"field": ".".join(str(p) for p in err["loc"]) or "(params)", "message": err["msg"]} for err in e.errors()
        ]
        raise invalid_params("; ".join(f"{p['field']}: {p['message']}" for p in problems), problems) from None
