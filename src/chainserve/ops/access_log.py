"""Access logs: a JSON line per request, with the request id it answered in ``X-Request-ID``.

The lines go to the logger ``chainserve.access`` at INFO, so the app's logging config
decides where they land; ``chainserve serve --access-log json`` writes them to stdout
instead of uvicorn's text lines. uvicorn's own access log skips the probes too.
"""

from __future__ import annotations

import copy
import logging
import re
import uuid
from collections.abc import Collection
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from chainserve.ops.middleware import Exchange

LOGGER = "chainserve.access"
REQUEST_ID = b"x-request-id"
# An incoming id is kept if it looks like one (uuids, hex, base64, dotted or colon ids),
# so that it cannot forge log lines or headers; any other gets a new one.
_SANE_ID = re.compile(r"[A-Za-z0-9._~:/+=@-]{1,128}")

logger = logging.getLogger(LOGGER)


def request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The incoming ``X-Request-ID`` if it looks sane, else a new uuid4 (hex)."""
    for key, value in headers:
        if key == REQUEST_ID:
            given = value.decode("latin-1")
            return given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex
    return uuid.uuid4().hex


def write(exchange: Exchange) -> None:
    """Log ``exchange`` as one JSON line (if the logger is on for INFO)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    client = exchange.scope.get("client")
    line = {
        "time": datetime.fromtimestamp(exchange.arrived, timezone.utc).isoformat(
            timespec="milliseconds"
        ),
        "method": exchange.scope["method"],
        "path": exchange.path,
        "route": exchange.route,
        "status": exchange.status,
        "duration_ms": round(exchange.duration * 1000, 3),
        "request_id": exchange.request_id,
        "client": client[0] if client else None,
    }
    logger.info(orjson.dumps(line).decode())


class PathFilter(logging.Filter):
    """Drops uvicorn's access log records of ``paths`` (the probes)."""

    def __init__(self, paths: Collection[str]) -> None:
        super().__init__()
        self.paths = frozenset(paths)

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn's args: client, method, path with query, HTTP version, status.
        args = record.args
        path = args[2] if isinstance(args, tuple) and len(args) > 2 else ""
        return str(path).partition("?")[0] not in self.paths


def uvicorn_logging(json_lines: bool, skipped: Collection[str]) -> dict[str, Any]:
    """uvicorn's logging config, its access log without the paths ``skipped``; with
    ``json_lines``, this module's lines to stdout as well."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"skipped": {"()": f"{__name__}.PathFilter", "paths": list(skipped)}}
    config["handlers"]["access"]["filters"] = ["skipped"]
    if json_lines:
        config["formatters"]["json_line"] = {"format": "%(message)s"}
        config["handlers"]["json_lines"] = {
            "class": "logging.StreamHandler",
            "formatter": "json_line",
            "stream": "ext://sys.stdout",
        }
        config["loggers"][LOGGER] = {
            "handlers": ["json_lines"],
            "level": "INFO",
            "propagate": False,
        }
    return config
