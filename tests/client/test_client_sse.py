"""The SSE decoder follows the WHATWG event-stream rules (§14.4)."""

from __future__ import annotations

import pytest

from chainserve.client._sse import ServerSentEvent, SSEDecoder


def decode(*chunks: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events + decoder.close()


LANGSERVE_STREAM = (
    b'event: metadata\r\ndata: {"run_id": "r"}\r\n\r\n'
    b"event: data\r\ndata: 2\r\n\r\n"
    b"event: end\r\n\r\n"
)
EXPECTED = [
    ServerSentEvent("metadata", '{"run_id": "r"}'),
    ServerSentEvent("data", "2"),
    ServerSentEvent("end", ""),  # no data line, still dispatched
]


@pytest.mark.parametrize("newline", [b"\r\n", b"\n", b"\r"])
def test_line_endings(newline: bytes) -> None:
    assert decode(LANGSERVE_STREAM.replace(b"\r\n", newline)) == EXPECTED


def test_any_chunking_gives_the_same_events() -> None:
    for size in (1, 2, 3, 7):
        chunks = [LANGSERVE_STREAM[i : i + size] for i in range(0, len(LANGSERVE_STREAM), size)]
        assert decode(*chunks) == EXPECTED


def test_cr_then_lf_in_the_next_chunk_is_one_line_end() -> None:
    assert decode(b"data: a\r", b"\n\r", b"\n") == [ServerSentEvent(data="a")]


def test_multibyte_character_split_across_chunks() -> None:
    payload = "data: \u00e9\u2603\n\n".encode()
    assert decode(payload[:7], payload[7:9], payload[9:]) == [ServerSentEvent(data="\u00e9\u2603")]


def test_unicode_line_separators_are_data() -> None:
    # str.splitlines() would split here; orjson leaves U+2028 unescaped in JSON.
    text = 'data: "a\u2028b\x85c"\n\n'
    assert decode(text.encode()) == [ServerSentEvent(data='"a\u2028b\x85c"')]


def test_fields() -> None:
    stream = (
        b"\xef\xbb\xbf: a comment\n"
        b"data:no space\n"
        b"data:  two spaces\n"
        b"data\n"
        b"id: 7\n"
        b"retry: 1500\n"
        b"unknown: ignored\n"
        b"\n"
        b"id: bad\x00id\n"
        b"retry: soon\n"
        b"event: next\n"
        b"\n"
    )
    assert decode(stream) == [
        ServerSentEvent("message", "no space\n two spaces\n", "7", 1500),
        ServerSentEvent("next", "", "7", None),  # the last event id persists
    ]


def test_blank_lines_alone_dispatch_nothing() -> None:
    assert decode(b"\n\n: ping\n\n\r\n") == []


def test_unterminated_event_at_end_of_stream_is_discarded() -> None:
    assert decode(b"event: data\ndata: 1\n\nevent: data\ndata: 2") == [ServerSentEvent("data", "1")]


def test_final_lone_cr_completes_the_event() -> None:
    assert decode(b"data: 1\r\r") == [ServerSentEvent(data="1")]
