"""Debian packages the tests need, installed on a fresh machine (as the README's test
command must work there): with ``apt-get``, when running as root."""

from __future__ import annotations

import os
import shutil
import subprocess


def install(package: str) -> None:
    """``apt-get install -y package``; does nothing without apt-get or root."""
    if not shutil.which("apt-get") or os.geteuid() != 0:
        return
    quiet = {"stdout": subprocess.DEVNULL, "timeout": 900, "check": False}
    subprocess.run(["apt-get", "update", "-q"], **quiet)  # type: ignore[call-overload]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-q", package], env=env, **quiet)  # type: ignore[call-overload]
