"""The built-in demo answers on every route, through the real command."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
from servers import free_port


def test_demo_command_serves_every_route() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "chainserve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/docs", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "no server"
                time.sleep(0.2)
        joke = httpx.post(f"{base}/joke/invoke", json={"input": {"topic": "cats"}})
        assert "robot" in joke.json()["output"] or "Hello" in joke.json()["output"]
        chat = httpx.post(
            f"{base}/chat/stream", json={"input": [{"type": "human", "content": "hi"}]}
        )
        assert chat.text.count("event: data") > 5
        search = httpx.post(f"{base}/search/invoke", json={"input": "streams"})
        assert search.json()["output"][0]["type"] == "Document"
        greet = httpx.post(
            f"{base}/greet/invoke",
            json={"input": {"name": "Ann"}, "config": {"configurable": {"template": "Hi {name}"}}},
        )
        assert greet.json()["output"] == "Hi Ann"
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert "/docs" in output
