"""The README's first command: the built-in demo answers on every route, offline."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import httpx
from running import serving

from chainserve.demo import ROUTES


def _post(base: str, route: str, body: dict) -> httpx.Response:
    response = httpx.post(f"{base}{route}", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response


def test_the_demo_serves_every_route_offline(tmp_path: Path) -> None:
    # No command and no TARGET, outside a project: `python -m chainserve` serves the demo.
    with serving([], cwd=tmp_path) as server:
        base = server.base_url
        joke = _post(base, "/joke/invoke", {"input": {"topic": "cats"}}).json()["output"]
        assert "cats" in joke
        chat = _post(base, "/chat/stream", {"input": [{"type": "human", "content": "hi there"}]})
        tokens = re.findall(r'"content":"([^"]*)"', chat.text)
        # Streamed token by token (LangChain ends a stream with an empty chunk).
        assert [token for token in tokens if token] == ["You", " said:", " hi", " there"]
        found = _post(base, "/search/invoke", {"input": "how do streams work"}).json()["output"]
        assert found[0]["type"] == "Document"
        answer = _post(base, "/ask/invoke", {"input": {"question": "what are workers?"}})
        assert "workers" in answer.json()["output"]
        shout = {"input": {"topic": "dogs"}, "config": {"configurable": {"style": "shout"}}}
        assert "DOGS" in _post(base, "/configurable/invoke", shout).json()["output"]
        chat_input = {"messages": [{"type": "human", "content": "hello"}]}
        reply = _post(base, "/assistant/invoke", {"input": chat_input}).json()["output"]
        assert reply["content"] == "You said: hello"
        assert server.stop(signal.SIGINT) == 0
    output = server.output()
    assert f"{base}/docs" in output
    for route in ROUTES:
        assert f"{base}{route}/playground/" in output
    assert "local deterministic model" in output
    assert "Finished server process" in output  # uvicorn's clean shutdown
