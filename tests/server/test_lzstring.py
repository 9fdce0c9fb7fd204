"""Tests for the lz-string URI codec, cross-checked against the real JS library."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from chainserve.server import lzstring
from chainserve.server.lzstring import (
    compress_to_encoded_uri_component as compress,
)
from chainserve.server.lzstring import (
    decompress_from_encoded_uri_component as decompress,
)

CONFIG = '{"configurable": {"template": "hash {name}"}, "tags": ["from-hash"]}'
CONFIG_HASH = (
    "N4Igxg9gdgZglgcwK4CcCGAjANgUxALgAJQAXHAWwAcs0yDCQALNAZ0eKjXJwF8QeANAxJoELegG0QMFBHIBaZmxABdHkA"
)

ROUND_TRIP = [
    "",
    "a",
    "hello world",
    CONFIG,
    "abc" * 5000,
    "héllo wörld ñ ß",
    "日本語のテキスト、中文文本\uff0c한국어",  # CJK incl. a fullwidth comma
    "emoji 😀🎉👍🏽 and flags 🇳🇱 and ZWJ 👩‍👩‍👧",
    "\U0001f600",
    "mixed 😀 中文 ascii \u0100\u00ff \ufffd",
]


def _random_text(seed: int, length: int, max_code_point: int) -> str:
    rng = random.Random(seed)
    chars = []
    while len(chars) < length:
        cp = rng.randrange(0, max_code_point)
        if not 0xD800 <= cp <= 0xDFFF:
            chars.append(chr(cp))
    return "".join(chars)


CROSS_CHECK = [
    *ROUND_TRIP,
    " ",
    "+",
    "A",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "ababababababababababababababababababab",
    "\x00",
    "\x00\x01\x02 control \t\n\r",
    "\xff\u0100\u00ff\u0100",
    "\uffff\ufffe",
    "lone surrogate \ud800 here",
    "TOBEORNOTTOBEORTOBEORNOT#",
    '{"a": 1, "b": [true, false, null], "c": {"d": "e"}}',
    json.dumps({"configurable": {f"k{i}": "v" * i for i in range(50)}}),
    "The quick brown fox jumps over the lazy dog. " * 40,
    "\U0001f600" * 300,
    "🏳️‍🌈" * 20 + "x",
    "Ünïcödé " * 100,
    "1234567890" * 100,
    _random_text(1, 200, 128),
    _random_text(2, 2_000, 0x800),
    _random_text(3, 5_000, 0x10000),
    _random_text(4, 5_000, 0x110000),
    _random_text(5, 60_000, 0x3000),  # enough dictionary entries for codes > 16 bits
]

NODE_BRIDGE = """
const lz = require("lz-string");
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const req = JSON.parse(input);
  process.stdout.write(JSON.stringify({
    version: require("lz-string/package.json").version,
    compressed: req.compress.map((s) => lz.compressToEncodedURIComponent(s)),
    decompressed: req.decompress.map((s) => lz.decompressFromEncodedURIComponent(s)),
  }));
});
"""


@pytest.fixture(scope="session")
def js_lzstring(tmp_path_factory: pytest.TempPathFactory):
    """Run the real lz-string 1.5.0 in node.

    Returns ``run(compress=[...], decompress=[...])``, one node process per call.
    """
    npm, node = shutil.which("npm"), shutil.which("node") or "/usr/bin/node"
    assert npm, "npm is required for the lz-string cross-checks"
    prefix: Path = tmp_path_factory.mktemp("lzstring-js")
    subprocess.run(
        [npm, "install", "--no-save", "--prefix", str(prefix), "lz-string@1.5.0"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    bridge = prefix / "bridge.js"
    bridge.write_text(NODE_BRIDGE, encoding="utf-8")

    def run(compress: list[str], decompress: list[str]) -> dict:
        proc = subprocess.run(
            [node, str(bridge)],
            input=json.dumps({"compress": compress, "decompress": decompress}),
            capture_output=True,
            encoding="utf-8",
            check=True,
            timeout=120,
        )
        result = json.loads(proc.stdout)
        assert result["version"] == "1.5.0"
        return result

    return run


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_round_trip(text: str) -> None:
    encoded = compress(text)
    assert set(encoded) <= set(lzstring._ALPHABET)
    assert decompress(encoded) == text


def test_empty_string() -> None:
    assert compress("") == "Q"
    assert decompress("Q") == ""
    assert decompress("") is None


def test_known_vector() -> None:
    assert compress(CONFIG) == CONFIG_HASH
    assert decompress(CONFIG_HASH) == CONFIG
    assert json.loads(decompress(CONFIG_HASH)) == {
        "configurable": {"template": "hash {name}"},
        "tags": ["from-hash"],
    }


def test_long_repetitive_text_compresses_well() -> None:
    text = "lorem ipsum dolor sit amet " * 2000
    encoded = compress(text)
    assert len(encoded) < len(text) // 10
    assert decompress(encoded) == text


def test_spaces_are_read_as_plus() -> None:
    text = '{"configurable": {"temperature": 1.0, "model": "gpt-10"}}'
    encoded = compress(text)
    assert encoded.endswith("+0oA")
    assert decompress(encoded.replace("+", " ")) == text


@pytest.mark.parametrize(
    "garbage",
    [
        "!!!",
        "abc def!",
        "N4Igxg9gdgZglgcw=",  # base64 padding is not part of the URI alphabet
        "N4Igxg9gdgZglgcw/",
        "ABC\n",
        "é",
        CONFIG_HASH[:20],  # truncated
        CONFIG_HASH[:-3],  # truncated
        "$$$$$$$$",  # first code is neither a literal nor the end marker
        "A",
        "AAAA",
        "hello",
        "////",
    ],
)
def test_garbage_returns_none(garbage: str) -> None:
    assert decompress(garbage) is None


def test_random_garbage_never_raises() -> None:
    rng = random.Random(0)
    alphabet = lzstring._ALPHABET + " "
    for _ in range(2000):
        data = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 80)))
        result = decompress(data)
        assert result is None or isinstance(result, str)


def test_non_string_input_returns_none() -> None:
    assert decompress(None) is None  # type: ignore[arg-type]
    assert decompress(b"Q") is None  # type: ignore[arg-type]


def test_decompression_bomb_is_capped() -> None:
    limit = lzstring.MAX_DECOMPRESSED_LENGTH
    at_limit = compress("a" * limit)
    too_long = compress("a" * (limit + 1))
    assert len(too_long) < 3000  # a tiny input ...
    assert decompress(too_long) is None  # ... that would expand past the cap
    assert decompress(at_limit) == "a" * limit


def test_cap_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lzstring, "MAX_DECOMPRESSED_LENGTH", 10)
    assert decompress(compress("x" * 10)) == "x" * 10
    assert decompress(compress("x" * 11)) is None
    assert decompress(compress("😀" * 6)) is None  # counted in UTF-16 code units


def test_matches_js_library(js_lzstring) -> None:
    ours = [compress(text) for text in CROSS_CHECK]
    result = js_lzstring(compress=CROSS_CHECK, decompress=ours)
    # Same compressed output, byte for byte.
    for text, mine, theirs in zip(CROSS_CHECK, ours, result["compressed"], strict=True):
        assert mine == theirs, text[:60]
    # JS decodes our output back to the original text ...
    assert result["decompressed"] == CROSS_CHECK
    # ... and we decode JS output back to the original text.
    assert [decompress(c) for c in result["compressed"]] == CROSS_CHECK


def test_js_output_with_spaces(js_lzstring) -> None:
    texts = [t for t in CROSS_CHECK if t][:15]
    result = js_lzstring(compress=texts, decompress=[])
    for text, encoded in zip(texts, result["compressed"], strict=True):
        assert decompress(encoded.replace("+", " ")) == text
