"""`chainserve serve` with its operations, through the real command: metrics added up
over worker processes, the JSON access log, --no-metrics, the probes out of uvicorn's
access log."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
import pytest
from running import RUNNABLES, UVICORN_STARTED, run, serving
from scrape import labels, scrape

MAX_REQUESTS = 200  # to reach both workers: the kernel hands connections out as it likes


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "chains.py").write_text(RUNNABLES)
    return tmp_path


def test_workers_metrics_add_up_and_each_request_is_a_json_line(project: Path) -> None:
    temporary = project / "tmp"  # where the command makes its metrics folder
    temporary.mkdir()
    args = ["serve", "chains:app", "--workers", "2", "--access-log", "json"]
    with serving(args, cwd=project, env={"TMPDIR": str(temporary)}) as server:
        workers = server.wait_for_pids(UVICORN_STARTED, 2)
        served: list[int] = []
        while set(served) != workers:
            assert len(served) < MAX_REQUESTS, f"one worker served all {served}"
            answer = httpx.post(f"{server.base_url}/pid/invoke", json={"input": 0})
            served.append(answer.json()["output"])
        [folder] = temporary.iterdir()
        assert folder.name.startswith("chainserve-metrics-")
        scrapes = [scrape(server.base_url) for _ in range(4)]  # answered by either worker
        assert server.stop(signal.SIGTERM) == 0
    count = len(served)
    invoked = labels(method="POST", route="/pid/invoke", status="200")
    for samples in scrapes:
        assert samples["chainserve_http_requests_total"][invoked] == count
        assert samples["chainserve_runs_total"] == {
            labels(route="/pid", endpoint="invoke", outcome="success"): count
        }
        assert samples["chainserve_runs_in_flight"] == {labels(route="/pid", endpoint="invoke"): 0}
    assert list(temporary.iterdir()) == []  # the metrics folder is gone with the server
    output = server.output()
    for name in ("health", "ready", "metrics"):
        assert f"{name}:" in output and f"{server.base_url}/{name}" in output
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    invokes = [line for line in lines if line["path"] == "/pid/invoke"]
    assert len(invokes) == count
    assert len({line["request_id"] for line in invokes}) == count
    assert {line["path"] for line in lines} <= {"/pid/invoke", "/openapi.json"}  # no probes
    assert '"POST /pid/invoke HTTP/1.1"' not in output  # no uvicorn text lines


def test_no_metrics_and_the_probes_out_of_uvicorn_s_access_log(project: Path) -> None:
    args = ["serve", "chains:double", "--path", "/double", "--no-metrics"]
    with serving(args, cwd=project) as server:
        doubled = httpx.post(f"{server.base_url}/double/invoke", json={"input": 2})
        assert doubled.json()["output"] == 4
        assert httpx.get(f"{server.base_url}/metrics").status_code == 404
        for path in ("/health", "/ok", "/ready"):
            assert httpx.get(f"{server.base_url}{path}").status_code == 200
        assert server.stop(signal.SIGTERM) == 0
    output = server.output()
    assert f"{server.base_url}/health" in output and "metrics:" not in output
    assert '"POST /double/invoke HTTP/1.1" 200' in output  # uvicorn's access log is on
    for path in ("/health", "/ok", "/ready"):
        assert f'"GET {path} HTTP/1.1"' not in output


def test_an_otel_setting_that_cannot_be_served_is_a_one_line_error(project: Path) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "jaeger"}
    result = run(["serve", "chains:double"], cwd=project, env=env)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "chainserve: error: OTEL_TRACES_EXPORTER='jaeger': chainserve exports traces by "
        "'otlp' only (or 'none' for no traces)"
    ]
