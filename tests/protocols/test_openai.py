"""The OpenAI Chat Completions API over ``add_routes(..., openai=True)``, driven by the
official ``openai`` client, sync and async: a model per route, routes of every input
shape answering what their runnables answer locally, streamed chunks, tools, usage and
sampling parameters, and every error status in OpenAI's shape, the server serving on."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from fastapi import APIRouter, Depends, FastAPI
from langchain_core.messages import BaseMessage, convert_to_messages
from langchain_core.runnables import RunnableLambda
from open_apps import (
    KEY,
    OBJECT_ROUTES,
    ROUTES,
    WEATHER,
    Stall,
    Tuned,
    check_key,
    open_app,
)
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from servers import serve

from chainserve import add_routes
from chainserve.demo import LocalChatModel

CHAT_ROUTES = ["/chat", "/support", "/assistant", "/text/shout", "/text/story"]
FIELD_ROUTES = {"/support", "/assistant"}  # {"messages": [...]}
TEXT_ROUTES = {"/text/shout", "/text/story"}  # the last user message's text
MESSAGE_ROUTES = ["/chat", "/support", "/assistant"]  # answer a model's message, with usage
STREAMING_ROUTES = {"/chat", "/support", "/assistant", "/text/story"}  # word by word

CONVERSATION = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "hello"},
    {"role": "assistant", "content": "You said: hello"},
    {"role": "user", "content": "what did I say before?"},
]
JOKE = [{"role": "user", "content": "Tell me a joke about sockets"}]
ECHO = [{"role": "user", "content": "hello there, my good friend"}]
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS: list[Any] = [WEATHER]


@pytest.fixture(scope="module")
def slow() -> Stall:
    return Stall()


@pytest.fixture(scope="module")
def busy() -> Stall:
    return Stall()


@pytest.fixture(scope="module")
def base(slow: Stall, busy: Stall) -> Iterator[str]:
    with serve(open_app(slow, busy)) as url:
        yield url


@pytest.fixture
def client(base: str) -> Iterator[openai.OpenAI]:
    with connect(base) as opened:
        yield opened


async def stream_then_fail(text: str) -> AsyncIterator[str]:
    yield "one "
    yield "two "
    raise RuntimeError("secret internals")


ENDED: list[str] = []  # the runs of /listened that ended


def own_app(hung: Stall) -> FastAPI:
    """Routes this module adds: a model at the root (first: its endpoint is the app's
    ``/v1/chat/completions``), a model under a listener, a stream failing once begun, a
    run that waits until cancelled."""
    app = FastAPI()
    add_routes(app, Tuned(), openai=True)
    listened = Tuned().with_listeners(on_end=lambda run: ENDED.append(run.name))
    add_routes(app, listened, path="/listened", openai=True)
    broken = RunnableLambda(stream_then_fail).with_types(input_type=str)
    add_routes(app, broken, path="/broken", openai=True)
    add_routes(app, RunnableLambda(hung).with_types(input_type=str), path="/hung", openai=True)
    return app


@pytest.fixture(scope="module")
def own() -> Iterator[str]:
    with serve(own_app(Stall())) as url:
        yield url


def api(base: str, route: str = "") -> str:
    """The OpenAI base URL of the app, or of one route (its own: ``{route}/openai/v1``)."""
    return f"{base}{route}/openai/v1" if route else f"{base}/v1"


def connect(base: str, api_key: str = "unused", prefix: str = "") -> openai.OpenAI:
    """The official client on the app or a route (no retries: a 503 is to be seen)."""
    return openai.OpenAI(base_url=api(base, prefix), api_key=api_key, max_retries=0)


def model_of(path: str) -> str:
    return path.removeprefix("/")


def as_input(path: str, messages: list[dict[str, Any]]) -> Any:
    """The request's messages as the route's runnable takes them."""
    chat = convert_to_messages(messages)
    if path in FIELD_ROUTES:
        return {"messages": chat}
    if path in TEXT_ROUTES:
        return next(message.text for message in reversed(chat) if message.type == "human")
    return chat


def local_output(path: str, messages: list[dict[str, Any]]) -> Any:
    """What the route's runnable answers when run here."""
    return ROUTES[path].invoke(as_input(path, messages))


def last_message(output: Any) -> BaseMessage:
    """The model's message in an output: the output, or a graph's last message."""
    return output["messages"][-1] if isinstance(output, dict) else output


def text_of(output: Any) -> str:
    return output if isinstance(output, str) else last_message(output).text


def local_text(path: str, messages: list[dict[str, Any]]) -> str:
    return text_of(local_output(path, messages))


def usage_of(message: BaseMessage) -> dict[str, int]:
    """A message's ``usage_metadata`` as OpenAI's ``usage``."""
    metadata = message.usage_metadata
    return {
        "prompt_tokens": metadata["input_tokens"],
        "completion_tokens": metadata["output_tokens"],
        "total_tokens": metadata["total_tokens"],
    }


def usage_dict(usage: Any) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def pieces(chunks: list[ChatCompletionChunk]) -> list[str]:
    """The content deltas of a stream, in order."""
    return [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]


def finish_reasons(chunks: list[ChatCompletionChunk]) -> list[str]:
    return [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]


def assembled_calls(chunks: list[ChatCompletionChunk]) -> list[dict[str, Any]]:
    """The tool calls of a stream's deltas, put together by index as a client does."""
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            call = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
            call["id"] = delta.id or call["id"]
            if delta.function is not None:
                call["name"] += delta.function.name or ""
                call["arguments"] += delta.function.arguments or ""
    return [calls[index] for index in sorted(calls)]


def error_of(exc: openai.APIStatusError) -> dict[str, Any]:
    """The OpenAI error body of a refused request, checked for its keys."""
    body = exc.body
    assert isinstance(body, dict), exc.response.text
    assert {"message", "type", "code"} <= set(body), body
    assert isinstance(body["message"], str) and body["message"]
    return body


def check_stream(chunks: list[ChatCompletionChunk], model: str, finish: str = "stop") -> None:
    """A stream's chunks: all ``chat.completion.chunk`` of ``model``, the first delta the
    assistant's, and exactly one ``finish_reason``, in the last choice."""
    assert chunks and {(c.object, c.model) for c in chunks} == {("chat.completion.chunk", model)}
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert finish_reasons(chunks) == [finish]
    with_choices = [c for c in chunks if c.choices]
    assert with_choices[-1].choices[0].finish_reason == finish


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``condition()`` holds; fail past ``timeout`` seconds (a bound on the
    wait, not a measure of anything)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{condition} still false after {timeout} s"
        time.sleep(0.01)


def test_models_are_the_openai_routes(client: openai.OpenAI) -> None:
    models = list(client.models.list())
    expected = {model_of(path) for path in ROUTES} | {"secure/chat", "busy", "slow"}
    assert {model.id for model in models} == expected
    assert {model.object for model in models} == {"model"}
    assert not {model_of(path) for path in OBJECT_ROUTES} & expected


@pytest.mark.parametrize("path", CHAT_ROUTES)
def test_a_completion_is_the_local_answer(client: openai.OpenAI, path: str) -> None:
    response = client.chat.completions.create(model=model_of(path), messages=CONVERSATION)
    assert (response.object, response.model) == ("chat.completion", model_of(path))
    assert len(response.choices) == 1
    choice = response.choices[0]
    assert (choice.message.role, choice.finish_reason) == ("assistant", "stop")
    assert choice.message.content == local_text(path, CONVERSATION)
    assert choice.message.tool_calls is None


@pytest.mark.parametrize("path", CHAT_ROUTES)
def test_a_stream_joins_to_the_local_answer(client: openai.OpenAI, path: str) -> None:
    stream = client.chat.completions.create(
        model=model_of(path), messages=CONVERSATION, stream=True
    )
    chunks = list(stream)
    check_stream(chunks, model_of(path))
    assert "".join(pieces(chunks)) == local_text(path, CONVERSATION)
    if path in STREAMING_ROUTES:
        assert len(pieces(chunks)) >= 2
    assert all(c.usage is None for c in chunks)  # none asked for


@pytest.mark.parametrize("path", CHAT_ROUTES)
async def test_the_async_client(base: str, path: str) -> None:
    expected = local_text(path, JOKE)
    async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0) as aio:
        response = await aio.chat.completions.create(model=model_of(path), messages=JOKE)
        assert response.choices[0].message.content == expected
        stream = await aio.chat.completions.create(model=model_of(path), messages=JOKE, stream=True)
        chunks = [chunk async for chunk in stream]
        check_stream(chunks, model_of(path))
        assert "".join(pieces(chunks)) == expected
        with pytest.raises(openai.NotFoundError) as caught:
            await aio.chat.completions.create(model="no/such/model", messages=JOKE)
        assert error_of(caught.value)["code"] == "model_not_found"


def test_a_text_route_takes_the_last_user_text(client: openai.OpenAI) -> None:
    messages: list[Any] = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "noted"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "sec"}, {"type": "text", "text": "ond"}],
        },
        {"role": "assistant", "content": "an answer after it"},
    ]
    response = client.chat.completions.create(model="text/shout", messages=messages)
    assert response.choices[0].message.content == "SECOND" == local_text("/text/shout", messages)


@pytest.mark.parametrize("path", MESSAGE_ROUTES)
def test_usage_is_the_models(client: openai.OpenAI, path: str) -> None:
    expected = usage_of(last_message(local_output(path, CONVERSATION)))
    response = client.chat.completions.create(model=model_of(path), messages=CONVERSATION)
    assert response.usage is not None and usage_dict(response.usage) == expected
    chunks = list(
        client.chat.completions.create(
            model=model_of(path),
            messages=CONVERSATION,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    *answer, last = chunks
    assert last.choices == [] and last.usage is not None
    assert usage_dict(last.usage) == expected
    assert all(chunk.usage is None for chunk in answer)
    check_stream(answer, model_of(path))


@pytest.mark.parametrize("path", sorted(TEXT_ROUTES))
def test_include_usage_ends_any_stream_with_a_usage_chunk(client: openai.OpenAI, path: str) -> None:
    chunks = list(
        client.chat.completions.create(
            model=model_of(path), messages=JOKE, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert "".join(pieces(chunks)) == local_text(path, JOKE)
    check_stream(chunks[:-1], model_of(path))


def local_tool_calls(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tool calls the chat route's model makes here, with the tools bound."""
    message = ROUTES["/chat"].bind_tools(TOOLS).invoke(convert_to_messages(messages))
    assert message.tool_calls
    return message.tool_calls


def test_tool_calls(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(model="chat", messages=ASK, tools=TOOLS)
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content in (None, "")
    calls = choice.message.tool_calls or []
    got = [
        (call.id, call.type, call.function.name, json.loads(call.function.arguments))
        for call in calls
    ]
    expected = [(c["id"], "function", c["name"], c["args"]) for c in local_tool_calls(ASK)]
    assert got == expected


def test_tool_call_deltas_assemble(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(model="chat", messages=ASK, tools=TOOLS, stream=True)
    )
    check_stream(chunks, "chat", finish="tool_calls")
    got = [(c["id"], c["name"], json.loads(c["arguments"])) for c in assembled_calls(chunks)]
    assert got == [(c["id"], c["name"], c["args"]) for c in local_tool_calls(ASK)]


def test_a_tool_result_gets_the_models_answer(client: openai.OpenAI) -> None:
    first = client.chat.completions.create(model="chat", messages=ASK, tools=TOOLS)
    call = (first.choices[0].message.tool_calls or [])[0]
    turn = {
        "role": "assistant",
        "content": None,
        "tool_calls": [call.model_dump()],
    }
    result = {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21 C"}
    messages: list[Any] = [*ASK, turn, result]
    local = ROUTES["/chat"].bind_tools(TOOLS).invoke(convert_to_messages(messages))
    assert "Sunny, 21 C" in local.text
    # the client sends the assistant's message back as it got it
    replayed: list[Any] = [*ASK, first.choices[0].message, result]
    second = client.chat.completions.create(model="chat", messages=replayed, tools=TOOLS)
    assert (second.choices[0].message.content, second.choices[0].finish_reason) == (
        local.text,
        "stop",
    )
    chunks = list(
        client.chat.completions.create(model="chat", messages=messages, tools=TOOLS, stream=True)
    )
    check_stream(chunks, "chat")
    assert "".join(pieces(chunks)) == local.text


@pytest.mark.parametrize(
    "choice",
    ["auto", "required", {"type": "function", "function": {"name": "get_weather"}}],
    ids=["auto", "required", "named"],
)
def test_tool_choice_reaches_bind_tools(
    client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch, choice: Any
) -> None:
    bound: list[dict[str, Any]] = []

    def bind_tools(self: Tuned, tools: Any, **kwargs: Any) -> Any:
        bound.append({"tools": tools, **kwargs})
        return LocalChatModel.bind_tools(self, tools, **kwargs)

    monkeypatch.setattr(Tuned, "bind_tools", bind_tools)
    response = client.chat.completions.create(
        model="chat", messages=ASK, tools=TOOLS, tool_choice=choice
    )
    assert response.choices[0].finish_reason == "tool_calls"
    assert bound == [{"tools": TOOLS, "tool_choice": choice}]


@pytest.mark.parametrize("temperature", [0.0, 0.5])
@pytest.mark.parametrize("stream", [False, True], ids=["completion", "stream"])
def test_temperature_reaches_the_model(
    client: openai.OpenAI, stream: bool, temperature: float
) -> None:
    tuned = ROUTES["/chat"].model_copy(update={"temperature": temperature})
    expected = tuned.invoke(convert_to_messages(ECHO)).text
    assert f"(temperature {temperature})" in expected
    response = client.chat.completions.create(
        model="chat", messages=ECHO, temperature=temperature, stream=stream
    )
    if stream:
        chunks = list(response)
        check_stream(chunks, "chat")
        assert "".join(pieces(chunks)) == expected
    else:
        assert response.choices[0].message.content == expected
    untuned = client.chat.completions.create(model="chat", messages=ECHO)
    assert untuned.choices[0].message.content == local_text("/chat", ECHO)


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_cuts_the_reply(client: openai.OpenAI, field: str) -> None:
    full = local_text("/chat", ECHO)
    assert len(full.split()) > 3
    response = client.chat.completions.create(model="chat", messages=ECHO, **{field: 3})
    content = response.choices[0].message.content or ""
    assert content.split() == full.split()[:3]
    assert response.usage is not None and response.usage.completion_tokens == 3


@pytest.mark.parametrize("stop", [",", [",", "zzz"]], ids=["string", "list"])
def test_stop_cuts_at_the_stop_string(client: openai.OpenAI, stop: str | list[str]) -> None:
    full = local_text("/chat", ECHO)
    expected = ROUTES["/chat"].invoke(convert_to_messages(ECHO), stop=[","]).text
    assert "," in full and "," not in expected and full.startswith(expected)
    response = client.chat.completions.create(model="chat", messages=ECHO, stop=stop)
    assert response.choices[0].message.content == expected


@pytest.mark.parametrize("path", ["/text/shout", "/support", "/secure/chat"])
def test_sampling_is_ignored_where_unsupported(base: str, path: str) -> None:
    """Routes that are not a model with those fields answer as without them."""
    with connect(base, api_key=KEY) as client:
        plain = client.chat.completions.create(model=model_of(path), messages=ECHO)
        sampled = client.chat.completions.create(
            model=model_of(path), messages=ECHO, temperature=1.5
        )
    assert sampled.choices[0].message.content == plain.choices[0].message.content
    if path in ROUTES:
        assert plain.choices[0].message.content == local_text(path, ECHO)


@pytest.mark.parametrize("stream", [False, True], ids=["completion", "stream"])
def test_an_unknown_model_is_404(client: openai.OpenAI, stream: bool) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="no/such/model", messages=JOKE, stream=stream)
    assert caught.value.status_code == 404
    body = error_of(caught.value)
    assert (body["type"], body["code"]) == ("invalid_request_error", "model_not_found")
    assert "no/such/model" in body["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "chat", "messages": "hello"}, "messages"),
        ({"model": "chat", "messages": [{"role": "wizard", "content": "hi"}]}, "messages"),
        ({"messages": JOKE}, "model"),
        ({"model": "chat", "messages": []}, "messages"),
        ({"model": "chat", "messages": ["hello"]}, "messages.0"),
        ({"model": "chat", "messages": [{"role": "tool", "content": "no call id"}]}, "messages"),
        ({"model": "chat", "messages": JOKE, "temperature": 9}, "temperature"),
        ({"model": "chat", "messages": JOKE, "tools": [{"type": "function"}]}, "tools"),
        ({"model": "text/shout", "messages": [{"role": "system", "content": "x"}]}, "messages"),
        ({"model": "chat", "messages": JOKE, "stream": True, "tools": "none"}, "tools"),
    ],
    ids=[
        "messages-not-a-list",
        "unknown-role",
        "no-model",
        "no-messages",
        "message-not-an-object",
        "tool-without-call-id",
        "temperature-out-of-range",
        "tool-without-function",
        "text-without-user-message",
        "stream-tools-not-a-list",
    ],
)
def test_a_bad_request_is_400(client: openai.OpenAI, body: dict[str, Any], param: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.post("/chat/completions", body=body, cast_to=ChatCompletion)
    assert caught.value.status_code == 400
    error = error_of(caught.value)
    assert (error["type"], error["param"]) == ("invalid_request_error", param)


def test_an_unknown_role_from_the_typed_call_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="support",
            messages=[{"role": "wizard", "content": "hi"}],
            stream=True,
        )
    assert "wizard" in error_of(caught.value)["message"]


@pytest.mark.parametrize("prefix", ["", "/chat"], ids=["app", "route"])
def test_a_body_that_is_not_json_is_400(base: str, prefix: str) -> None:
    response = httpx.post(
        f"{api(base, prefix)}/chat/completions",
        content=b'{"model": "chat", "messages": [',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert {"message", "type", "code"} <= set(error)
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize("stream", [False, True], ids=["completion", "stream"])
def test_a_failing_run_is_500_without_its_text(client: openai.OpenAI, stream: bool) -> None:
    with pytest.raises(openai.APIError) as caught:
        response = client.chat.completions.create(model="fail", messages=JOKE, stream=stream)
        list(response)  # a stream may fail once begun
    error = caught.value
    assert "secret internals" not in f"{error} {json.dumps(error.body)}"
    if isinstance(error, openai.APIStatusError):
        assert error.status_code == 500
        assert "secret internals" not in error.response.text
        assert error_of(error)["type"] == "server_error"


@pytest.mark.parametrize("stream", [False, True], ids=["completion", "stream"])
def test_the_routes_dependencies_check_the_key(base: str, stream: bool) -> None:
    with connect(base) as client:
        with pytest.raises(openai.AuthenticationError) as missing:
            client.chat.completions.create(
                model="secure/chat",
                messages=ECHO,
                stream=stream,
                extra_headers={"Authorization": openai.omit},
            )
        assert missing.value.status_code == 401
        assert error_of(missing.value)["type"] == "authentication_error"
        with pytest.raises(openai.PermissionDeniedError) as wrong:
            client.chat.completions.create(model="secure/chat", messages=ECHO, stream=stream)
        assert wrong.value.status_code == 403
        assert error_of(wrong.value)["type"] == "permission_error"
    expected = LocalChatModel().invoke(convert_to_messages(ECHO)).text
    with connect(base, api_key=KEY) as client:
        response = client.chat.completions.create(model="secure/chat", messages=ECHO, stream=stream)
        if stream:
            assert "".join(pieces(list(response))) == expected
        else:
            assert response.choices[0].message.content == expected


def test_a_routes_own_endpoint_serves_its_model(base: str) -> None:
    expected = local_text("/chat", CONVERSATION)
    with connect(base, prefix="/chat") as client:
        response = client.chat.completions.create(model="chat", messages=CONVERSATION)
        assert response.choices[0].message.content == expected
        chunks = list(
            client.chat.completions.create(model="chat", messages=CONVERSATION, stream=True)
        )
        assert "".join(pieces(chunks)) == expected
        with pytest.raises(openai.NotFoundError) as caught:
            client.chat.completions.create(model="support", messages=CONVERSATION)
        assert error_of(caught.value)["code"] == "model_not_found"
        assert [model.id for model in client.models.list()] == ["chat"]


def included_app() -> FastAPI:
    """Models on a router included with a prefix and, on the inclusion, auth."""
    router = APIRouter(prefix="/api")
    add_routes(router, Tuned(), path="/chat", openai=True)
    add_routes(router, ROUTES["/text/shout"], path="/text/shout", openai=True)
    app = FastAPI()
    app.include_router(router, dependencies=[Depends(check_key)])
    return app


def test_an_included_router_s_models_keep_its_prefix_and_dependencies() -> None:
    with serve(included_app()) as url:
        body = {"model": "chat", "messages": CONVERSATION}
        assert httpx.post(f"{url}/api/v1/chat/completions", json=body).status_code == 401
        assert httpx.get(f"{url}/api/v1/models").status_code == 401
        with connect(url + "/api", api_key="wrong") as client:
            with pytest.raises(openai.PermissionDeniedError):
                client.models.list()
            with pytest.raises(openai.PermissionDeniedError):
                client.chat.completions.create(model="chat", messages=CONVERSATION)
        with connect(url + "/api", api_key=KEY) as client:
            assert [model.id for model in client.models.list()] == ["chat", "text/shout"]
            reply = client.chat.completions.create(model="text/shout", messages=CONVERSATION)
            assert reply.choices[0].message.content == local_text("/text/shout", CONVERSATION)


def test_a_busy_route_is_503(client: openai.OpenAI, busy: Stall) -> None:
    user = [{"role": "user", "content": "hold on"}]
    with client.chat.completions.create(model="busy", messages=user, stream=True) as held:
        assert next(iter(held)).choices[0].delta.content == "waiting "
        for stream in (False, True):
            with pytest.raises(openai.InternalServerError) as caught:
                client.chat.completions.create(model="busy", messages=user, stream=stream)
            assert caught.value.status_code == 503
            assert caught.value.response.headers.get("retry-after")
            assert error_of(caught.value)["type"] == "server_error"
    wait_for(busy.cancelled.is_set)

    def free() -> bool:
        try:
            with client.chat.completions.create(model="busy", messages=user, stream=True) as again:
                return next(iter(again)).choices[0].delta.content == "waiting "
        except openai.InternalServerError:
            return False  # the cancelled run not over yet

    wait_for(free)


def test_closing_a_stream_cancels_its_run(client: openai.OpenAI, slow: Stall) -> None:
    stream = client.chat.completions.create(
        model="slow", messages=[{"role": "user", "content": "wait"}], stream=True
    )
    first = next(iter(stream))
    assert (first.choices[0].delta.content, slow.started.is_set()) == ("waiting ", True)
    assert not slow.cancelled.is_set()
    stream.close()
    wait_for(slow.cancelled.is_set)


def test_a_root_route_is_one_model_among_others(own: str) -> None:
    with connect(own) as client:
        assert {model.id for model in client.models.list()} == {
            "default",
            "listened",
            "broken",
            "hung",
        }
        for model in ("default", "listened"):
            response = client.chat.completions.create(model=model, messages=ECHO)
            assert response.choices[0].message.content == local_text("/chat", ECHO)


def test_sampling_keeps_the_routes_bindings(own: str) -> None:
    """A route's model under bindings (a listener here) gets the request's parameters
    under the same bindings."""
    ENDED.clear()
    with connect(own) as client:
        plain = client.chat.completions.create(model="listened", messages=ECHO)
        tuned = client.chat.completions.create(model="listened", messages=ECHO, temperature=1)
        called = client.chat.completions.create(model="listened", messages=ASK, tools=TOOLS)
    assert plain.choices[0].message.content == local_text("/chat", ECHO)
    assert "(temperature 1.0)" in (tuned.choices[0].message.content or "")
    assert called.choices[0].finish_reason == "tool_calls"
    assert ENDED == ["/listened"] * 3


def test_a_stream_failing_once_begun_ends_in_an_error(
    own: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The client raises the error event, which carries no exception text; the server
    logs the failure once."""
    got: list[str] = []
    with caplog.at_level(logging.ERROR, logger="chainserve"), connect(own) as client:
        stream = client.chat.completions.create(model="broken", messages=ECHO, stream=True)
        with pytest.raises(openai.APIError) as caught:
            got.extend(chunk.choices[0].delta.content or "" for chunk in stream)
    assert got == ["one ", "two "]
    assert caught.value.body == {
        "message": "The model failed to answer",
        "type": "server_error",
        "param": None,
        "code": "runnable_error",
    }
    assert "secret internals" not in str(caught.value)
    failures = [r for r in caplog.records if r.getMessage() == "Run failed mid-stream"]
    assert len(failures) == 1


async def test_a_client_gone_before_the_answer_cancels_the_run() -> None:
    """Driven at the ASGI level, where the client's leaving is a message: the run is
    cancelled and the request ends (499), not raised as the app's error."""
    hung = Stall()
    body = json.dumps({"model": "hung", "messages": ECHO}).encode()
    sent: list[dict[str, Any]] = []
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": body, "more_body": False}
        while not hung.started.is_set():
            await asyncio.sleep(0.01)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"host", b"test")],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }
    await asyncio.wait_for(own_app(hung)(scope, receive, send), 10)
    assert hung.cancelled.is_set()
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [499]


@pytest.mark.parametrize(
    ("runnable", "takes"),
    [(OBJECT_ROUTES["/joke"], "object Question"), (RunnableLambda(lambda value: value), "any")],
    ids=["object", "untyped"],
)
def test_add_routes_refuses_an_input_chat_does_not_fit(runnable: Any, takes: str) -> None:
    with pytest.raises(ValueError, match="'/ask'") as caught:
        add_routes(FastAPI(), runnable, path="/ask", openai=True)
    assert "openai=True" in str(caught.value) and f"takes {takes}" in str(caught.value)


def test_the_server_answers_after_the_errors(client: openai.OpenAI) -> None:
    for path in CHAT_ROUTES:
        response = client.chat.completions.create(model=model_of(path), messages=JOKE)
        assert response.choices[0].message.content == local_text(path, JOKE)
