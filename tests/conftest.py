from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Test helpers (apps.py, servers.py) are imported as top-level modules.
sys.path.insert(0, str(Path(__file__).parent))

from postgres import PostgresServer


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session, started when a test first needs it."""
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The Agent Protocol's database URL, once per backend: a SQLite file, a new
    Postgres database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.database()
