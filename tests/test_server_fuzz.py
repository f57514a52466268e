"""Schema-driven fuzzing: schemathesis generates requests from the live server's published OpenAPI
(ones that fit it, and ones that do not), sends them with a valid token, and no answer may be a
server error or an error without the structured body."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode
from schemathesis.transport.requests import REQUESTS_TRANSPORT, binary_serializer

from claude_sync.format.version import FORMAT_VERSION
from claude_sync.format.wire import FORMAT

if TYPE_CHECKING:
    from tests.support.sync_server import SyncServer

pytest_plugins = ["tests.support.sync_server"]

EXAMPLES = 25  # per operation and mode: the whole run stays well under a minute

# Bundles travel as application/gzip: raw bytes, as schemathesis sends application/octet-stream.
REQUESTS_TRANSPORT.serializer("application/gzip")(binary_serializer)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_no_request_against_the_published_schema_makes_a_server_error(sync_server: SyncServer, mode: GenerationMode):
    schema = schemathesis.openapi.from_url(f"{sync_server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {
        "/health",
        "/api/sessions",
        "/api/sessions/{prefix}",
        "/api/sessions/push",
        "/api/sessions/{session_id}/manifest",
        "/api/sessions/{session_id}/append",
        "/api/sessions/{session_id}/delta",
    }
    seen: list[str] = []
    for op in operations:
        if (
            mode is GenerationMode.NEGATIVE
            and not op.path_parameters
            and not op.query
            and not op.headers
            and not op.body
        ):
            continue  # nothing to get wrong in a request to /health

        @given(case=op.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(headers={"Authorization": f"Bearer {sync_server.token}", FORMAT: str(FORMAT_VERSION)}, timeout=30)
            seen.append(f"{case.method} {response.status_code}")
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:500]}"
            )
            if response.status_code >= 400:
                body = response.json()
                assert isinstance(body.get("error"), str) and isinstance(body.get("detail"), str), body

        try:
            check()
        except Exception as e:
            raise AssertionError(f"{op.method} {op.path}: {type(e).__name__}; seen {seen[-3:]}") from e
    assert seen
