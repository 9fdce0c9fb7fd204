"""The benchmarks' view of server processes: pinning to cores, the CPU time and memory
of a process tree (from ``/proc``), stopping a tree, the venvs of the peer servers, and
what a results header says about the machine and the chainserve it ran."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

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


# Variables that would make a server talk to LangSmith: removed, not read.
LANGSMITH_KEYS = (
    "LANGSMITH_API_KEY",
    "LANGCHAIN_API_KEY",
    "LANGSMITH_ENDPOINT",
    "LANGCHAIN_ENDPOINT",
    "LANGGRAPH_CLOUD_LICENSE_KEY",
    "LANGSMITH_LICENSE_KEY",
    "LANGSMITH_CONTROL_PLANE_API_KEY",
)
NO_TRACING = {"LANGSMITH_TRACING": "false", "LANGCHAIN_TRACING_V2": "false"}


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment for a server: without the LangSmith keys, tracing off, ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in LANGSMITH_KEYS}
    env.update(NO_TRACING)
    env.update(extra or {})
    return env


def die_with_parent() -> None:
    """In the child before exec (``preexec_fn``): get SIGTERM when the benchmark dies,
    however it dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _start_time(pid: int) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rindex(")") + 2 :].split()[19])
    return None


def identities(pids: list[int]) -> list[tuple[int, int]]:
    """``(pid, start time)`` of each running process of ``pids``, for ``kill_leftovers``."""
    found = [(pid, _start_time(pid)) for pid in pids]
    return [(pid, start) for pid, start in found if start is not None]


def kill_leftovers(known: list[tuple[int, int]], grace: float) -> int:
    """SIGKILL the processes of ``known`` (from ``identities``) that still run
    ``grace`` s from now, the same processes (pid and start time), not reused pids.
    Returns how many it killed."""
    deadline = time.monotonic() + grace
    alive = known
    while True:
        alive = [(pid, start) for pid, start in alive if _start_time(pid) == start]
        if not alive or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    for pid, _ in alive:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return len(alive)


# The peer servers' venvs ----------------------------------------------------------


def _venv_works(venv: Path, check: str) -> bool:
    python = venv / "bin" / "python"
    if not python.exists():
        return False
    try:
        done = subprocess.run([str(python), "-c", check], capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def ensure_venv(
    venv: Path,
    pins: Sequence[str],
    check: str,
    *,
    system_site_packages: bool = False,
    log: Any = print,
) -> None:
    """Make ``venv`` usable: as it is (``check``, Python code, runs in it), relinked, or
    made anew with ``pins`` installed."""
    if _venv_works(venv, check):
        return
    if sys.version_info < (3, 11):
        sys.exit(f"the venv {venv.name} needs Python >= 3.11; run this with one")
    options = ["--system-site-packages"] if system_site_packages else []
    if venv.exists():
        # A venv copied without its symlinks has its interpreters as small text files
        # naming their targets: remove those and let venv link them again.
        for path in (venv / "bin").iterdir():
            interpreter = re.fullmatch(r"python(3(\.\d+)?)?", path.name)
            if interpreter and not path.is_symlink() and path.stat().st_size < 1024:
                path.unlink()
        log(f"relinking the interpreter of {venv}")
        subprocess.run([sys.executable, "-m", "venv", *options, "--upgrade", str(venv)], check=True)
        if _venv_works(venv, check):
            return
    log(f"creating {venv}: pip install {' '.join(pins)}")
    subprocess.run([sys.executable, "-m", "venv", *options, "--clear", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, *pins], check=True, timeout=1800)
    if not _venv_works(venv, check):
        sys.exit(f"{venv} still fails its check: {check}")


def venv_versions(venv: Path, packages: Sequence[str]) -> dict[str, str]:
    """The versions of ``packages`` in ``venv`` (empty if it cannot tell)."""
    code = (
        "import json, importlib.metadata as m; "
        f"print(json.dumps({{p: m.version(p) for p in {list(packages)!r}}}))"
    )
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=60
    )
    return dict(json.loads(out.stdout)) if out.returncode == 0 else {}


# What a results header says ---------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown cpu"


def chainserve_commit() -> str:
    """Which chainserve the servers run: this work tree's commit, and whether its src/
    differs from it, or the folder it is imported from (``PYTHONPATH``)."""
    code = "import chainserve, os; print(os.path.dirname(os.path.dirname(chainserve.__file__)))"
    where = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if Path(where.stdout.strip()) != ROOT / "src":
        return f"from {where.stdout.strip() or '?'}"
    git = ["git", "-C", str(ROOT)]
    try:
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True)
        dirty = subprocess.run([*git, "diff", "--quiet", "HEAD", "--", "src"]).returncode
    except OSError:
        return "(no git)"
    commit = head.stdout.decode().strip() or "?"
    return f"at {commit}{' + uncommitted src/ changes' if dirty else ''}"
