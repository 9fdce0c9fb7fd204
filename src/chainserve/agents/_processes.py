"""Which process executes a run: its owner, recorded with it, with a lease it renews.

A server fails the runs of an owner that is gone: at once when the owner was a process
of this host that is no longer running, else once the lease has expired (the owner
stopped renewing it: killed, or on a host that is gone). Runs of live owners, on this
host or on others (replicas sharing a Postgres), are left to them.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

LEASE_SECONDS = 30.0  # how long a run's owner may go silent before its runs are failed


def host() -> str:
    """This host: its boot id where Linux has one (a container shares its host's; a pid
    namespace does not change it), else its name."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}-{boot[:8]}" if boot else socket.gethostname()


def this_process() -> str:
    """The owner a run records: ``host/pid:start`` (a pid is reused by later processes;
    with its start time it is not; pids of other hosts or pid namespaces mean nothing
    here, hence the host)."""
    return f"{_HOST}/{_process(os.getpid()) or os.getpid()}"


def here(owner: str | None) -> bool:
    """Whether ``owner`` is a process of this host (one of an older release, too)."""
    where, slash, _ = (owner or "").rpartition("/")
    return not slash or where == _HOST


def gone(owner: str | None) -> bool:
    """Whether ``owner`` (a ``this_process()``) is surely not running: a process of this
    host that is not there (an owner without a host, of an older release: of this one)."""
    if not owner:
        return True
    if not here(owner):
        return False  # another host's: only its lease tells
    process = owner.rpartition("/")[2]
    pid = process.split(":")[0]
    if not pid.isdigit():
        return True
    running = _process(int(pid))
    return running is None or (":" in process and running != process)


def _process(pid: int) -> str | None:
    """``"<pid>:<start time>"`` of a running process (``"<pid>"`` off Linux), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None  # Linux, and no such process
    except OSError:
        pass
    else:
        return f"{pid}:{stat[stat.rindex(')') + 2 :].split()[19]}"  # field 22, starttime
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, someone else's
        pass
    return str(pid)


_HOST = host()
