"""README's deployment lines, run for real: gunicorn with uvicorn workers, and the
Dockerfile that `chainserve new` writes (its RUN and CMD, without a Docker engine)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import venv
from pathlib import Path

import httpx
import pytest
from running import SCRIPT, UVICORN_STARTED, Server, environment, run, serving

import chainserve

GUNICORN = (str(Path(sys.executable).with_name("gunicorn")),)
ROOT = Path(__file__).parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    result = run(["new", "my-app"], cwd=tmp_path, command=SCRIPT)
    assert result.returncode == 0, result.stderr
    return tmp_path / "my-app"


def _tells_a_joke(server: Server) -> None:
    response = httpx.post(
        f"{server.base_url}/joke/invoke", json={"input": {"topic": "owls"}}, timeout=30
    )
    assert response.status_code == 200, response.text
    assert "owls" in response.json()["output"]
    with httpx.stream(
        "POST", f"{server.base_url}/joke/stream", json={"input": {"topic": "owls"}}, timeout=30
    ) as stream:
        assert stream.status_code == 200
        assert "event: end" in stream.read().decode()


def test_gunicorn_serves_the_app_with_uvicorn_workers(project: Path) -> None:
    # README: gunicorn app.server:app -k uvicorn_worker.UvicornWorker -w 4 -b 0.0.0.0:8000
    args = ["app.server:app", "-k", "uvicorn_worker.UvicornWorker", "-w", "2"]
    with serving(
        args, cwd=project, command=GUNICORN, bind=lambda port: ["-b", f"127.0.0.1:{port}"]
    ) as server:
        assert len(server.wait_for_pids(r"Booting worker with pid: (\d+)", 2)) == 2
        _tells_a_joke(server)
        assert server.stop(signal.SIGTERM) == 0
    assert "Shutting down: Master" in server.output()


def _dockerfile(project: Path) -> tuple[list[str], list[str]]:
    """The Dockerfile's RUN commands and its CMD (exec form)."""
    runs: list[str] = []
    cmd: list[str] = []
    for line in (project / "Dockerfile").read_text().splitlines():
        instruction, _, rest = line.partition(" ")
        if instruction == "RUN":
            runs.append(rest)
        elif instruction == "CMD":
            cmd = json.loads(rest)
    return runs, cmd


def _on_loopback(cmd: list[str], port: int) -> list[str]:
    """``cmd`` listening on 127.0.0.1:``port`` instead of the container's 0.0.0.0:8000."""
    options = {"--host": "127.0.0.1", "--port": str(port)}
    return [options.get(cmd[index - 1], part) if index else part for index, part in enumerate(cmd)]


def test_the_dockerfile_installs_the_project_and_its_cmd_serves(
    project: Path, tmp_path: Path
) -> None:
    runs, cmd = _dockerfile(project)
    assert runs == ["pip install --no-cache-dir ."]
    assert cmd[:3] == ["chainserve", "serve", "app.server:app"]
    assert "--host" in cmd and "--port" in cmd

    # The image's Python: a bare venv, where pip finds chainserve (built from this
    # checkout) as the image would find it on PyPI, and the rest as pip is set up here.
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    image = tmp_path / "image"
    venv.create(image, with_pip=True)
    python = image / "bin" / "python"
    find_links = " ".join(filter(None, [os.environ.get("PIP_FIND_LINKS"), str(wheels)]))
    # This checkout's chainserve, even if an index ever offers a newer one.
    pinned = tmp_path / "constraints.txt"
    pinned.write_text(f"chainserve=={chainserve.__version__}\n")
    for command in runs:
        argv = shlex.split(command)
        assert argv[0] == "pip"
        installed = subprocess.run(
            [str(python), "-m", *argv],
            cwd=project,
            env=environment(PIP_FIND_LINKS=find_links, PIP_CONSTRAINT=str(pinned)),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (image / "bin" / "chainserve").is_file()

    executable, *args = cmd
    with serving(
        [],
        cwd=project,  # the image's WORKDIR holds the project, as here
        command=[str(image / "bin" / executable)],
        bind=lambda port: _on_loopback(args, port),
    ) as server:
        assert len(server.wait_for_pids(UVICORN_STARTED, 2)) == 2
        _tells_a_joke(server)
        assert server.stop(signal.SIGTERM) == 0
    assert server.output().count("Finished server process") == 2
