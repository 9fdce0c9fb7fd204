"""Reach an ASGI app in a test: in-process, or on a real loopback socket."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvicorn


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(app: object, *, timeout: float = 20.0, lifespan: bool = False) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread (its lifespan run if ``lifespan``); yield
    its base URL, then stop it."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on" if lifespan else "off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)


def asgi_client(app: Any, **transport: Any) -> httpx.AsyncClient:
    """An in-process client for ``app``; keyword arguments go to ``httpx.ASGITransport``."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, **transport), base_url="http://test"
    )


@contextlib.contextmanager
def raw_post(
    base: str, path: str, body: Any, *, receive_buffer: int = 65536, timeout: float = 15.0
) -> Iterator[socket.socket]:
    """POST ``body`` as JSON over a bare socket; yield the socket, then hang up.

    A small receive buffer makes a client that stops reading soon stop the server's
    writes, as a slow reader over a real network would.
    """
    address = urlsplit(base)
    payload = json.dumps(body).encode()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.settimeout(timeout)
        sock.connect((address.hostname, address.port))
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n"
            f"content-length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        yield sock


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    """Read from ``sock`` until ``marker`` has arrived; what was read."""
    received = b""
    while marker not in received:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"the connection closed before {marker!r}: {received!r}")
        received += chunk
    return received


def node_script(folder: Path, package: str) -> list[str]:
    """The command running ``folder/client.mjs``; installs its npm packages (``npm ci``)
    when ``package`` is not installed there."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "these tests need node and npm on PATH"
    if not (folder / "node_modules" / package).is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=folder, check=True, timeout=300)
    return [node, str(folder / "client.mjs")]
