"""A response that hands the request on to another ASGI app."""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Relay(Response):
    """Answers by running ``app`` on the request: an SDK's transport, or another route.

    ``body``: the request's body, already read by the endpoint, is given to ``app``
    again (then ``receive`` goes on, for the disconnect).
    """

    def __init__(self, app: ASGIApp, body: bytes | None = None) -> None:
        self.app = app
        self.body_sent = body is None
        self.request_body = body or b""
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def replay() -> Message:
            if not self.body_sent:
                self.body_sent = True
                return {"type": "http.request", "body": self.request_body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
