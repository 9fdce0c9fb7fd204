"""Limits that protect a server from oversized, overdeep, too many or too long requests."""

from __future__ import annotations

import dataclasses

from chainserve.server.errors import RequestError


@dataclasses.dataclass(frozen=True)
class Limits:
    """Per-route limits, passed as ``add_routes(..., limits=Limits(...))``.

    - ``max_body_size``: bytes of request body; larger bodies get 413.
    - ``max_batch_size``: inputs in one batch; more get 422.
    - ``max_json_depth``: nesting of the body's JSON; deeper gets 422.
    - ``max_concurrent_runs``: runs of this route at once (None: no limit); a request
      beyond it gets 503 with ``Retry-After`` at once, rather than waiting in a queue.
      A stream counts until its run is over and its frames are written.
    - ``run_timeout``: seconds a run may take (None: no limit); past it the run is
      cancelled and the client gets 504 (or, once a stream has begun, an ``error``
      event with status 504).
    - ``header_wait``: the longest (seconds) a stream holds its response headers
      waiting for the run's first output (None: until it comes). A run that fails
      within it gets a real HTTP error status; past it the headers go out (200) and a
      later failure is an ``error`` event, as for a failure after the first output.
    - ``keepalive_interval``: once a stream's headers are out, a ``: keep-alive``
      comment is written whenever the stream has written nothing for this many seconds
      (None: never), so that proxies do not close a stream whose run is thinking.
    """

    max_body_size: int = 10 * 1024 * 1024
    max_batch_size: int = 1000
    max_json_depth: int = 64
    max_concurrent_runs: int | None = None
    run_timeout: float | None = None
    retry_after: int = 1
    header_wait: float | None = 5.0
    keepalive_interval: float | None = 15.0

    def __post_init__(self) -> None:
        for name in ("max_body_size", "max_batch_size", "max_json_depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"Limits.{name} must be at least 1")
        if self.max_concurrent_runs is not None and self.max_concurrent_runs < 1:
            raise ValueError("Limits.max_concurrent_runs must be at least 1 or None")
        for name in ("run_timeout", "header_wait", "keepalive_interval"):
            value = getattr(self, name)
            if value is not None and not value > 0:  # "not >": NaN is refused too
                raise ValueError(f"Limits.{name} must be positive or None")


class RunSlots:
    """Counts a route's runs in flight against ``max_concurrent_runs``."""

    def __init__(self, limits: Limits) -> None:
        self._limit = limits.max_concurrent_runs
        self._retry_after = str(limits.retry_after)
        self.in_flight = 0

    def acquire(self) -> None:
        """Take a slot, or refuse the request with 503."""
        if self._limit is not None and self.in_flight >= self._limit:
            raise RequestError(
                503,
                f"This route is running its maximum of {self._limit} runs; retry shortly",
                headers={"Retry-After": self._retry_after},
            )
        self.in_flight += 1

    def release(self) -> None:
        self.in_flight -= 1
