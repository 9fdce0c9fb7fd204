"""Observers of the server's runs: what metrics count. By default nobody observes.

The server tells ``current_observer()`` of each run; ``chainserve.ops`` sets an
observer of its own for the requests of an app it watches. The default one does
nothing, so that an app without operations pays a function call per run.
"""

from __future__ import annotations

from contextvars import ContextVar, Token


class RunWatch:
    """One run of a route, started once it holds a slot; this one ignores it."""

    __slots__ = ()

    def streaming(self) -> None:
        """Its stream's response has begun."""

    def ended(self, error: BaseException | None) -> None:
        """It is over: it finished (None), or ``error`` stopped it (its exception,
        ``ClientDisconnect``, ``RunTimeout``, ``asyncio.CancelledError``)."""


class BackgroundWatch:
    """One background run of the Agent Protocol, from when it is due; this one ignores it."""

    __slots__ = ()

    def started(self) -> None:
        """It waited its turn (thread and pool) and now runs."""

    def ended(self, status: str) -> None:
        """It is over (``success``, ``error`` or ``interrupted``), started or not."""


class RunObserver:
    """Told of the runs the server starts; this one ignores them."""

    def run(self, route: str, endpoint: str) -> RunWatch:
        """A run of ``route`` (its mount path) through ``endpoint`` holds a slot."""
        return _IGNORED_RUN

    def refused(self, route: str, endpoint: str) -> None:
        """A run was refused: its route runs its maximum at once (503)."""

    def background_run(self, graph: str) -> BackgroundWatch:
        """A background run of ``graph`` is due."""
        return IGNORED_BACKGROUND


_IGNORED_RUN = RunWatch()
IGNORED_BACKGROUND = BackgroundWatch()  # also what a background run has until it is due

_NOBODY = RunObserver()
_observer: ContextVar[RunObserver] = ContextVar("chainserve_observer", default=_NOBODY)
# The endpoint the current task prepares a run for, as its config names it: protocols
# (OpenAI, MCP, A2A) call ``APIHandler.run`` without saying.
run_endpoint: ContextVar[str] = ContextVar("chainserve_run_endpoint", default="run")


def current_observer() -> RunObserver:
    """The observer of the runs of the request being served."""
    return _observer.get()


def observe(observer: RunObserver) -> Token[RunObserver]:
    """Make ``observer`` the current task's (and its new tasks'); ``unobserve`` undoes it."""
    return _observer.set(observer)


def unobserve(token: Token[RunObserver]) -> None:
    _observer.reset(token)
