"""Reading SSE bodies in tests."""

from __future__ import annotations

import json
from typing import Any


def parse_events(body: str) -> list[tuple[str, Any]]:
    """``(event, decoded data)`` pairs of an SSE body; data is None when absent.

    Comment lines (``: keep-alive``) are skipped, and so are blocks of nothing else.
    """
    events = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.split("\n") if line.strip() and not line.startswith(":")]
        if not lines:
            continue
        fields = dict(line.split(": ", 1) for line in lines if ": " in line)
        name = fields.get("event", "message")
        data = fields.get("data")
        events.append((name, json.loads(data) if data is not None else None))
    return events
