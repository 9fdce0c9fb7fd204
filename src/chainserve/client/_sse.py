"""Incremental Server-Sent Events decoder (WHATWG event stream interpretation).

Bytes are fed in arbitrary chunks; complete events come out. Lines end with CRLF, LF
or CR only: ``str.splitlines`` (used by ``httpx.Response.iter_lines``) would also
split on U+2028 and friends, which orjson leaves unescaped inside JSON strings.
"""

from __future__ import annotations

import codecs
import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx

__all__ = ["SSEDecoder", "ServerSentEvent", "aiter_sse", "iter_sse"]

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched event."""

    event: str = "message"
    data: str = ""
    id: str = ""
    retry: int | None = None


class SSEDecoder:
    """Turns a byte stream into ``ServerSentEvent`` objects."""

    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""  # an incomplete last line
        self._first_line = True
        self._event = ""
        self._data: list[str] = []
        self._last_id = ""
        self._retry: int | None = None
        # LangServe ends streams with a data-less ``event: end`` block, which a strict
        # WHATWG decoder would drop, so any field in the block makes it dispatch.
        self._has_fields = False

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode a chunk of bytes; return the events it completes."""
        text = self._pending + self._text.decode(chunk)
        lines = _LINE_END.split(text)
        # A trailing CR may be the first half of a CRLF split across chunks.
        if text.endswith("\r"):
            lines[-2:] = [lines[-2] + "\r"]
        self._pending = lines.pop()
        events = []
        for line in lines:
            event = self._process_line(line)
            if event is not None:
                events.append(event)
        return events

    def close(self) -> list[ServerSentEvent]:
        """Finish the stream; return an event completed by a final lone CR.

        An event without its terminating blank line is discarded, per WHATWG.
        """
        text, self._pending = self._pending + self._text.decode(b"", final=True), ""
        if not text.endswith("\r"):
            return []
        event = self._process_line(text[:-1])
        return [event] if event is not None else []

    def _process_line(self, line: str) -> ServerSentEvent | None:
        if self._first_line:
            self._first_line = False
            line = line.removeprefix("\ufeff")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        self._set_field(name, value)
        return None

    def _set_field(self, name: str, value: str) -> None:
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" in value:
                return
            self._last_id = value
        elif name == "retry":
            if not value.isascii() or not value.isdigit():
                return
            self._retry = int(value)
        else:
            return  # unknown fields are ignored
        self._has_fields = True

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._has_fields:
            return None
        event = ServerSentEvent(
            event=self._event or "message",
            data="\n".join(self._data),
            id=self._last_id,
            retry=self._retry,
        )
        # The last event id persists across events; everything else resets.
        self._event, self._data, self._retry = "", [], None
        self._has_fields = False
        return event


def iter_sse(response: httpx.Response) -> Iterator[ServerSentEvent]:
    """Yield the events of a streaming response."""
    decoder = SSEDecoder()
    for chunk in response.iter_bytes():
        yield from decoder.feed(chunk)
    yield from decoder.close()


async def aiter_sse(response: httpx.Response) -> AsyncIterator[ServerSentEvent]:
    """Yield the events of a streaming response (async)."""
    decoder = SSEDecoder()
    chunks = response.aiter_bytes()
    # Close the byte iterator here rather than leaving it to garbage collection.
    async with contextlib.aclosing(chunks):  # type: ignore[type-var]
        async for chunk in chunks:
            for event in decoder.feed(chunk):
                yield event
    for event in decoder.close():
        yield event
