"""The benchmarks' view of server processes: pinning to cores, and the CPU time and
memory of a process tree, from ``/proc``."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def taskset(cpus: str | None) -> list[str]:
    """The command prefix pinning a process to ``cpus`` (none on one core or without
    taskset)."""
    if cpus is None or shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        return []
    return ["taskset", "-c", cpus]


def descendants(pid: int) -> list[int]:
    """``pid`` and the processes under it, parents first."""
    pids = [pid]
    for index in range(len(pids) + 64):
        if index >= len(pids):
            break
        path = Path(f"/proc/{pids[index]}/task/{pids[index]}/children")
        with contextlib.suppress(OSError):
            pids += [int(p) for p in path.read_text().split()]
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU seconds the processes ``pids`` have used."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def rss_mib(pids: list[int]) -> float:
    """The resident memory of the processes ``pids``, in MiB."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    return total / 2**20


def stop(proc: subprocess.Popen[bytes] | None, grace: float) -> None:
    """SIGTERM ``proc`` if it runs; SIGKILL it if it has not ended ``grace`` s later."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
