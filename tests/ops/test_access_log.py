"""The JSON access log over real HTTP: a line per request, its request id also in the
``X-Request-ID`` header (the caller's, if sane), the probes left out."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from langchain_core.runnables import RunnableLambda
from servers import serve

from chainserve import add_routes
from chainserve.ops import add_operations

FIELDS = {"time", "method", "path", "route", "status", "duration_ms", "request_id", "client"}


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "chainserve.access"]


def test_each_request_is_a_json_line_with_its_request_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="chainserve.access")
    app = FastAPI()
    add_routes(app, RunnableLambda(lambda x: x), path="/echo")
    add_operations(app, access_log=True)
    with serve(app, lifespan=True) as url:
        given = httpx.post(
            f"{url}/echo/invoke", json={"input": 1}, headers={"x-request-id": "edge-7f3a:42"}
        )
        made = httpx.post(f"{url}/echo/invoke", json={"input": 2}, headers={"x-request-id": "a b"})
        missing = httpx.get(f"{url}/nowhere")
        probes = [httpx.get(f"{url}{path}") for path in ("/health", "/ok", "/ready", "/metrics")]
    assert given.headers["x-request-id"] == "edge-7f3a:42"
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])  # a new one
    assert re.fullmatch(r"[0-9a-f]{32}", missing.headers["x-request-id"])
    assert all(probe.status_code == 200 for probe in probes)
    assert all("x-request-id" not in probe.headers for probe in probes)
    lines = _lines(caplog)
    assert [set(line) for line in lines] == [FIELDS] * 3  # the probes are not logged
    for line, response in zip(lines, (given, made, missing), strict=True):
        assert line["request_id"] == response.headers["x-request-id"]
        assert line["status"] == response.status_code
        assert line["client"] == "127.0.0.1"
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
        assert datetime.fromisoformat(line["time"]).utcoffset().total_seconds() == 0
    assert [(line["method"], line["path"], line["route"]) for line in lines] == [
        ("POST", "/echo/invoke", "/echo/invoke"),
        ("POST", "/echo/invoke", "/echo/invoke"),
        ("GET", "/nowhere", None),
    ]


def test_without_the_access_log_no_request_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="chainserve.access")
    app = FastAPI()
    add_routes(app, RunnableLambda(lambda x: x), path="/echo")
    add_operations(app)
    with serve(app, lifespan=True) as url:
        answer = httpx.post(f"{url}/echo/invoke", json={"input": 1})
    assert "x-request-id" not in answer.headers
    assert _lines(caplog) == []
