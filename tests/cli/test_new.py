"""`chainserve new NAME`: a project that passes its own test and serves with no TARGET."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
from running import SCRIPT, environment, run, serving


def test_new_project_passes_its_test_and_serves(tmp_path: Path) -> None:
    result = run(["new", "my-app"], cwd=tmp_path, command=SCRIPT)
    assert result.returncode == 0, result.stderr
    project = tmp_path / "my-app"
    for name in ("pyproject.toml", "app/server.py", "tests/test_server.py", "Dockerfile"):
        assert (project / name).is_file(), name
    assert (project / "README.md").read_text().startswith("# my-app")
    assert 'name = "my-app"' in (project / "pyproject.toml").read_text()

    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "1 passed" in tests.stdout

    # `cd my-app && chainserve serve`: the project's app, found through pyproject.toml.
    with serving(["serve"], cwd=project, command=SCRIPT) as server:
        response = httpx.post(f"{server.base_url}/joke/invoke", json={"input": {"topic": "owls"}})
        assert "owls" in response.json()["output"]
        assert server.stop(signal.SIGTERM) == 0
    assert "serving app.server:app" in server.output()


def test_new_refuses_a_taken_folder_or_a_bad_name(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file.txt").write_text("mine")
    taken = run(["new", "taken"], cwd=tmp_path)
    assert taken.returncode == 1 and "already exists and is not empty" in taken.stderr
    bad = run(["new", "../escape"], cwd=tmp_path)
    assert bad.returncode == 1 and "invalid project name" in bad.stderr
    assert (tmp_path / "taken" / "file.txt").read_text() == "mine"
