"""URI-safe lz-string codec, bit-compatible with lz-string 1.5 (JavaScript).

Why this exists: a runnable's config can be put into the URL as
``/c/{hash}/...``, where ``{hash}`` is the config JSON compressed with
lz-string's ``compressToEncodedURIComponent``. The playground builds its share
links the same way, so the server must read (and be able to write) exactly
what the JavaScript library produces.

The format is LZW-style: a stream of variable-width codes, packed
least-significant-bit first into 6-bit characters of ``A-Za-z0-9+-$``. Codes
0 and 1 bring in a new 8- or 16-bit literal, code 2 ends the stream, and
codes 3 and up point into a dictionary that both sides grow in step. Like
JavaScript, the codec works on UTF-16 code units, so characters outside the
BMP (emoji) travel as surrogate pairs.

Decoding never raises: malformed input (a character outside the alphabet, a
bad code, a truncated stream) gives ``None``, as does output longer than
``MAX_DECOMPRESSED_LENGTH`` code units, which guards against decompression
bombs. The JavaScript library instead returns ``""``, ``null`` or garbage for
malformed input; valid input decodes the same way in both.
"""

from __future__ import annotations

import struct

__all__ = [
    "MAX_DECOMPRESSED_LENGTH",
    "compress_to_encoded_uri_component",
    "decompress_from_encoded_uri_component",
]

MAX_DECOMPRESSED_LENGTH = 1_000_000
"""Longest output, in UTF-16 code units, that decompression will produce."""

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-$"
_BITS = {ch: format(i, "06b") for i, ch in enumerate(_ALPHABET)}
_LITERAL_8, _LITERAL_16, _END = 0, 1, 2  # reserved codes; the dictionary starts at 3


class _CorruptData(Exception):
    """Internal signal that the compressed stream cannot be decoded."""


def _to_code_units(text: str) -> str:
    """Split every non-BMP character into its UTF-16 surrogate pair."""
    if not text or max(text) <= "\uffff":
        return text
    raw = text.encode("utf-16-le", "surrogatepass")
    return "".join(map(chr, struct.unpack(f"<{len(raw) // 2}H", raw)))


def _from_code_units(units: str) -> str:
    """Join surrogate pairs back into characters; lone surrogates are kept."""
    return units.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def compress_to_encoded_uri_component(text: str) -> str:
    """Compress ``text`` like lz-string's ``compressToEncodedURIComponent``."""
    bits: list[str] = []  # one string per code, least significant bit first
    codes: dict[str, int] = {}
    fresh: set[str] = set()  # single characters in ``codes`` not yet sent as literals
    width, countdown = 2, 2  # code width in bits; codes left until it grows

    def write(value: int, nbits: int) -> None:
        bits.append(format(value, f"0{nbits}b")[::-1])

    def tick() -> None:
        nonlocal width, countdown
        countdown -= 1
        if countdown == 0:
            countdown = 1 << width
            width += 1

    def emit(phrase: str) -> None:
        if phrase in fresh:
            fresh.remove(phrase)
            code = ord(phrase)
            if code < 256:
                write(_LITERAL_8, width)
                write(code, 8)
            else:
                write(_LITERAL_16, width)
                write(code, 16)
            tick()
        else:
            write(codes[phrase], width)
        tick()

    phrase = ""
    for ch in _to_code_units(text):
        if ch not in codes:
            codes[ch] = len(codes) + 3
            fresh.add(ch)
        extended = phrase + ch
        if extended in codes:
            phrase = extended
        else:
            emit(phrase)
            codes[extended] = len(codes) + 3
            phrase = ch
    if phrase:
        emit(phrase)
    write(_END, width)

    stream = "".join(bits)
    stream += "0" * (6 - len(stream) % 6)  # lz-string always pads with 1-6 zero bits
    return "".join(_ALPHABET[int(stream[i : i + 6], 2)] for i in range(0, len(stream), 6))


def _decode(stream: str) -> str:
    """Decode a bit stream into UTF-16 code units; raise ``_CorruptData`` if invalid."""
    pos = 0

    def read(nbits: int) -> int:
        nonlocal pos
        if pos + nbits > len(stream):
            raise _CorruptData("truncated")
        chunk = stream[pos : pos + nbits]
        pos += nbits
        return int(chunk[::-1], 2)

    entries = ["", "", ""]  # placeholders for the reserved codes
    width, countdown = 2, 1  # the first code is 2 bits wide, then 3
    previous = ""
    output: list[str] = []
    length = 0
    while True:
        code = read(width)
        if code == _END:
            return "".join(output)
        if code in (_LITERAL_8, _LITERAL_16):
            entries.append(chr(read(8 if code == _LITERAL_8 else 16)))
            code = len(entries) - 1
            countdown -= 1
            if countdown == 0:
                countdown = 1 << width
                width += 1
        if code < len(entries):
            entry = entries[code]
        elif code == len(entries) and previous:
            entry = previous + previous[0]
        else:
            raise _CorruptData("unknown code")
        length += len(entry)
        if length > MAX_DECOMPRESSED_LENGTH:
            raise _CorruptData("too long")
        output.append(entry)
        if previous:
            entries.append(previous + entry[0])
            countdown -= 1
            if countdown == 0:
                countdown = 1 << width
                width += 1
        previous = entry


def decompress_from_encoded_uri_component(data: str) -> str | None:
    """Decompress like lz-string's ``decompressFromEncodedURIComponent``.

    Spaces are read as ``+`` (a ``+`` in a URL may arrive decoded as a space).
    Returns ``None`` for empty, malformed or oversized input; never raises.
    """
    if not isinstance(data, str) or not data:
        return None
    try:
        stream = "".join([_BITS[ch] for ch in data.replace(" ", "+")])
        return _from_code_units(_decode(stream))
    except (KeyError, _CorruptData):
        return None
