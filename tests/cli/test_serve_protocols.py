"""`chainserve serve` over the open protocols: `--openai --mcp --a2a` on a bare Runnable,
the demo with all three, and the README's clients of each run against the real demo."""

from __future__ import annotations

import asyncio
import re
import signal
import uuid
from pathlib import Path

import pytest
from a2a.client import ClientConfig, create_client
from a2a.helpers import new_text_part
from a2a.types import Message, Role, SendMessageRequest, TaskState
from mcp import Client
from openai import OpenAI
from running import run, serving

from chainserve.demo import LocalChatModel

README = Path(__file__).resolve().parents[2] / "README.md"
CHAINS = """
from fastapi import FastAPI
from langchain_core.messages import AnyMessage
from langchain_core.runnables import RunnableLambda
from pydantic import BaseModel
from chainserve.demo import LocalChatModel

chat = LocalChatModel().with_types(input_type=list[AnyMessage])

class Question(BaseModel):
    question: str

ask = RunnableLambda(lambda x: x["question"]).with_types(input_type=Question)
app = FastAPI()
"""
JOKE = "tell me a joke about owls"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "chains.py").write_text(CHAINS)
    return tmp_path


async def _mcp_call(base: str, tool: str, arguments: dict) -> tuple[list[str], str]:
    async with Client(f"{base}/mcp") as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        result = await client.call_tool(tool, arguments)
        return names, result.content[0].text


async def _a2a_send(base: str, path: str, text: str) -> tuple[str, str]:
    client = await create_client(base + path, client_config=ClientConfig(streaming=False))
    message = Message(
        role=Role.ROLE_USER, message_id=str(uuid.uuid4()), parts=[new_text_part(text)]
    )
    events = [event async for event in client.send_message(SendMessageRequest(message=message))]
    await client.close()
    task = events[-1].task
    output = "".join(part.text for artifact in task.artifacts for part in artifact.parts)
    return TaskState.Name(task.status.state), output


def test_a_runnable_served_with_the_three_flags(project: Path) -> None:
    expected = LocalChatModel().invoke(JOKE).text
    args = ["serve", "chains:chat", "--path", "/chat", "--openai", "--mcp", "--a2a"]
    with serving(args, cwd=project) as server:
        base = server.base_url
        client = OpenAI(base_url=f"{base}/v1", api_key="unused")
        assert [model.id for model in client.models.list()] == ["chat"]
        reply = client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": JOKE}]
        )
        assert reply.choices[0].message.content == expected
        assert asyncio.run(_mcp_call(base, "chat", {"input": JOKE})) == (["chat"], expected)
        assert asyncio.run(_a2a_send(base, "/chat", JOKE)) == ("TASK_STATE_COMPLETED", expected)
        for line in ("OpenAI API:", "/v1", "MCP:", "/mcp", "/chat/.well-known/agent-card.json"):
            assert line in server.output()


def test_the_flags_reach_every_worker(project: Path) -> None:
    args = ["serve", "chains:chat", "--path", "/chat", "--openai", "--workers", "2"]
    with serving(args, cwd=project) as server:
        client = OpenAI(base_url=f"{server.base_url}/v1", api_key="unused")
        for _ in range(4):  # any worker answers
            assert [model.id for model in client.models.list()] == ["chat"]
        assert server.stop(signal.SIGTERM) == 0  # the workers too (a kill would orphan them)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["chains:ask", "--openai"], "openai=True needs a route whose input is a list of messages"),
        (["chains:app", "--mcp"], "--mcp only applies to a Runnable TARGET"),
    ],
)
def test_a_flag_that_cannot_apply_is_a_one_line_error(
    project: Path, args: list[str], message: str
) -> None:
    result = run(["serve", *args], cwd=project)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert message in result.stderr


def test_the_readme_clients_talk_to_the_demo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = README.read_text()
    blocks = [
        b for b in re.findall(r"^```python\n(.*?)^```", readme, re.M | re.S) if "# test: demo" in b
    ]
    assert len(blocks) == 3  # the OpenAI, MCP and A2A clients
    with serving([], cwd=tmp_path) as server:  # no TARGET, no project here: the demo
        for code in blocks:
            code = code.replace("http://127.0.0.1:8000", server.base_url)
            exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
        banner = server.output()
    printed = capsys.readouterr().out
    joke = LocalChatModel().invoke(JOKE).text
    assert printed.count(joke) == 3  # OpenAI, streamed OpenAI, MCP
    assert "['chat', 'assistant']" in printed
    assert "You said: hello" in printed  # A2A, streamed
    for line in ("OpenAI API:", "MCP:", "/chat/.well-known/agent-card.json"):
        assert line in banner
