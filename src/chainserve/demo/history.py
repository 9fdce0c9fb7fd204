"""A chat message history stored in a SQLite file, one conversation per session id."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_session ON messages (session_id, id);
"""


class SQLiteChatMessageHistory(BaseChatMessageHistory):
    """The messages of session ``session_id`` in the SQLite database at ``path``.

    Each call opens its own connection, so one instance may be used from any thread and
    several server processes may share the file.
    """

    def __init__(self, session_id: str, path: str | Path) -> None:
        self.session_id = session_id
        self.path = Path(path)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            with db:  # commits, or rolls back on error
                yield db
        finally:
            db.close()

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The session's messages, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT message FROM messages WHERE session_id = ? ORDER BY id",
                (self.session_id,),
            ).fetchall()
        return messages_from_dict([json.loads(row[0]) for row in rows])

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append ``messages`` to the session, in one transaction."""
        rows = [(self.session_id, json.dumps(message_to_dict(m))) for m in messages]
        with self._connect() as db:
            db.executemany("INSERT INTO messages (session_id, message) VALUES (?, ?)", rows)

    def clear(self) -> None:
        """Delete the session's messages."""
        with self._connect() as db:
            db.execute("DELETE FROM messages WHERE session_id = ?", (self.session_id,))
