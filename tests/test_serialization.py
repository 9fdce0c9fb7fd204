"""The wire encoding shared by server and client (contract §13)."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from langchain_core.agents import AgentAction, AgentFinish
from langchain_core.documents import Document
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    HumanMessageChunk,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, Generation
from langchain_core.prompt_values import ChatPromptValueConcrete, StringPromptValue
from langchain_core.runnables import RunnableLambda

from chainserve import add_routes
from chainserve.serialization import SerializationError, Serializer, WellKnownLCSerializer

serializer = WellKnownLCSerializer()

ROUND_TRIPS = [
    AIMessage(content="hi", id="1"),
    HumanMessage(content="hello"),
    SystemMessage(content="be nice"),
    ToolMessage(content="42", tool_call_id="call-1"),
    AIMessageChunk(content="par"),
    HumanMessageChunk(content="tial"),
    Document(page_content="q", metadata={"a": 1}),
    StringPromptValue(text="hear bob"),
    ChatPromptValueConcrete(messages=[HumanMessage(content="x"), AIMessage(content="y")]),
    AgentAction(tool="search", tool_input="x", log="log"),
    AgentFinish(return_values={"output": 1}, log="done"),
    Generation(text="g"),
    ChatGeneration(message=AIMessage(content="m")),
]


@pytest.mark.parametrize("value", ROUND_TRIPS, ids=lambda v: type(v).__name__)
def test_well_known_types_round_trip(value: Any) -> None:
    decoded = serializer.loads(serializer.dumps(value))
    assert type(decoded) is type(value)
    assert decoded == value


def test_nested_values_and_chunk_addition() -> None:
    value = {"docs": [Document(page_content="a")], "msg": [AIMessageChunk(content="a")]}
    decoded = serializer.loads(serializer.dumps(value))
    assert isinstance(decoded["docs"][0], Document)
    assert (decoded["msg"][0] + AIMessageChunk(content="b")).content == "ab"


def test_plain_values() -> None:
    moment = datetime.datetime(2020, 1, 1)
    ident = uuid.UUID(int=1)
    assert serializer.dumpd({"t": moment, "u": ident, 1: "x"}) == {
        "t": "2020-01-01T00:00:00",
        "u": str(ident),
        "1": "x",
    }
    assert serializer.loadd({"type": "unknown", "x": 1}) == {"type": "unknown", "x": 1}
    # A dict that only looks like a message but is invalid stays a dict.
    assert serializer.loadd({"type": "human", "content": object}) == {
        "type": "human",
        "content": object,
    }


def test_unserializable_raises() -> None:
    with pytest.raises(SerializationError):
        serializer.dumps({1, 2})


class Point:
    def __init__(self, x: int) -> None:
        self.x = x


class PointSerializer(Serializer):
    def dumps(self, obj: Any) -> bytes:
        return WellKnownLCSerializer().dumps(obj.__dict__ if isinstance(obj, Point) else obj)

    def loadd(self, obj: Any) -> Any:
        return Point(**obj) if isinstance(obj, dict) and set(obj) == {"x"} else obj


async def test_custom_serializer_on_the_server() -> None:
    app = FastAPI()
    add_routes(app, RunnableLambda(lambda x: Point(x)), path="/point", serializer=PointSerializer())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        response = await client.post("/point/invoke", json={"input": 3})
        streamed = await client.post("/point/stream", json={"input": 4})
    assert response.json()["output"] == {"x": 3}
    assert 'data: {"x":4}' in streamed.text


def test_integers_of_any_size_round_trip_with_the_rest_encoded_as_usual() -> None:
    import datetime
    import math

    from chainserve.serialization import dumps, loads

    huge = int("9" * 400)  # orjson refuses to read it at all
    value = {"big": 2**70, "huge": huge, "nan": math.nan, "day": datetime.date(2020, 1, 2)}
    encoded = dumps(value)
    assert loads(encoded) == {"big": 2**70, "huge": huge, "nan": None, "day": "2020-01-02"}
    assert loads(encoded.decode()) == loads(encoded)
    assert loads(b"[18446744073709551615, -9223372036854775808]") == [2**64 - 1, -(2**63)]
