"""Fixtures: one PostgreSQL cluster per test session, a fresh database per test.

Without PostgreSQL the tests that need it skip, except under CI (CI=true), where a
missing PostgreSQL is a failure: scripts/setup.sh installs it there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from devtools.postgres import PostgresCluster, find_bindir


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    bindir = find_bindir()
    if bindir is None:
        message = "PostgreSQL is not installed (initdb, pg_ctl, pg_dump, pg_restore): run scripts/setup.sh as root"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("psycopg is missing: pip install -e '.[server]'")
        pytest.skip("psycopg is missing: pip install -e '.[server]'")
    cluster = PostgresCluster(bindir, durable=False).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def database_url(postgres_cluster: PostgresCluster) -> str:
    """An empty database of the test's own."""
    return postgres_cluster.create_database()
