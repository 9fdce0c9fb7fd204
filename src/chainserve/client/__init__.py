"""The client half of chainserve: call served runnables as if they were local."""

from ._remote import DEFAULT_TIMEOUT, RemoteRunnable

__all__ = ["DEFAULT_TIMEOUT", "RemoteRunnable"]
