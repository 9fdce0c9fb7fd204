"""A run's ``webhook``: its final record POSTed to the URL the client gave, when it ends."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

import httpx

from chainserve.agents._streams import wire_json

logger = logging.getLogger("chainserve.agents")

ATTEMPTS = 3
TIMEOUT = 10.0  # seconds per attempt


def check_webhook(url: str) -> str | None:
    """Why ``url`` cannot be a webhook (not an absolute http(s) URL), or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError when out of range)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return f"webhook must be an absolute http or https URL, not {url!r}"
    return None


async def send_webhook(
    url: str, payload: dict[str, Any], *, attempts: int = ATTEMPTS, backoff: float = 0.5
) -> bool:
    """POST ``payload`` to ``url``; retried on network errors and 5xx answers, at most
    ``attempts`` times, waiting ``backoff`` seconds, then twice that, between tries.
    Whether the receiver took it (a 2xx answer)."""
    body = wire_json(payload)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        for attempt in range(1, attempts + 1):
            try:
                response = await client.post(url, content=body, headers=headers)
            except Exception as exc:  # httpx's errors, and what its transports raise
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    return True
                problem = f"answered {response.status_code}"
                if response.status_code < 500:
                    break  # the receiver refused it: sending it again changes nothing
            if attempt < attempts:
                await asyncio.sleep(backoff * 2 ** (attempt - 1))
    logger.warning("webhook %s for run %s not delivered: %s", url, payload.get("run_id"), problem)
    return False
