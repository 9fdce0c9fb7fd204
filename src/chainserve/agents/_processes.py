"""Which process executes a run: its owner, recorded with it, so that a server starting
up fails only the runs of processes that are gone (not those of its live siblings)."""

from __future__ import annotations

import os
from pathlib import Path


def this_process() -> str:
    """The owner a run records: this process's pid, and when it started where the
    system says (a pid is reused by later processes; with its start time it is not)."""
    return _process(os.getpid()) or str(os.getpid())


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


def alive_elsewhere(owner: str | None) -> bool:
    """Whether ``owner`` (a ``this_process()`` of a run) is another process, running."""
    if owner is None or not owner.split(":")[0].isdigit():
        return False
    pid = int(owner.split(":")[0])
    if pid == os.getpid():
        return False
    running = _process(pid)
    return running is not None and (running == owner or ":" not in owner)
