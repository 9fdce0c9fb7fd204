"""A real PostgreSQL server for the tests, from Debian's packages (installed with apt-get
when missing), run by an unprivileged user in a temporary folder, on a loopback port.

``PostgresServer.start()`` runs ``initdb`` and ``postgres``; ``database()`` creates a fresh
database and gives its URL. As root the server runs as the ``postgres`` user (PostgreSQL
refuses to run as root); otherwise as the current user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from debian import install
from servers import free_port

START_TIMEOUT = 60.0  # a bound on waiting for the server, not a speed check


def _bin_folder() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PostgresServer:
    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="chainserve-pg-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    def _as_user(self, *command: str | Path) -> list[str]:
        words = [str(word) for word in command]
        return ["runuser", "-u", self._user, "--", *words] if os.geteuid() == 0 else words

    def start(self) -> None:
        binaries = _bin_folder()
        if binaries is None:
            install("postgresql")
            binaries = _bin_folder()
        if binaries is None:
            raise RuntimeError("PostgreSQL not found: apt-get install -y postgresql")
        if os.geteuid() == 0:
            shutil.chown(self.folder, self._user)
        data = self.folder / "data"
        subprocess.run(
            self._as_user(binaries / "initdb", "-D", data, "-U", "postgres", "--auth=trust"),
            check=True,
            capture_output=True,
        )
        options = ["-c", "listen_addresses=127.0.0.1", "-k", self.folder, "-p", str(self.port)]
        options += ["-c", "fsync=off", "-c", "max_connections=200"]  # test data only
        log = (self.folder / "server.log").open("wb")
        self.process = subprocess.Popen(
            self._as_user(binaries / "postgres", "-D", data, *options),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                assert self.process is not None
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = (self.folder / "server.log").read_text(errors="replace")
                    raise RuntimeError(f"PostgreSQL did not start:\n{log}") from None
                time.sleep(0.1)

    def url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def database(self) -> str:
        """A new empty database's URL."""
        import psycopg

        name = "t" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # smart shutdown: waits for clients, so then fast
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.folder, ignore_errors=True)
