"""The Store API of ``add_graphs`` is the graphs' runtime store, and lasts."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from langgraph.config import get_store
from langgraph.graph import START, StateGraph
from langgraph_sdk import get_client
from protocol_apps import serve_with_lifespan
from typing_extensions import TypedDict

from chainserve import RemoteRunnable
from chainserve.agents import add_graphs


class Profile(TypedDict, total=False):
    user: str
    greeting: str


def _greet(state: Profile) -> dict[str, Any]:
    store = get_store()
    item = store.get(("profiles",), state["user"])
    name = item.value["name"] if item else "stranger"
    store.put(("greeted",), state["user"], {"name": name})
    return {"greeting": f"hello {name}"}


def greeter() -> Any:
    builder = StateGraph(Profile)
    builder.add_node("greet", _greet)
    builder.add_edge(START, "greet")
    return builder.compile()


def app_on(database: str) -> FastAPI:
    app = FastAPI()
    add_graphs(app, {"greeter": greeter()}, database=database)
    return app


async def test_what_a_client_stores_a_graph_reads_and_writes(database: str) -> None:
    with serve_with_lifespan(app_on(database)) as url:
        client = get_client(url=url)
        await client.store.put_item(["profiles"], "u1", {"name": "Ada"})
        remote = RemoteRunnable(f"{url}/greeter").with_config(configurable={"thread_id": "t"})
        assert (await remote.ainvoke({"user": "u1"}))["greeting"] == "hello Ada"
        greeted = await client.store.get_item(["greeted"], "u1")
        assert greeted is not None and greeted["value"] == {"name": "Ada"}
    with serve_with_lifespan(app_on(database)) as url:  # a restart keeps the items
        client = get_client(url=url)
        found = await client.store.search_items(["greeted"])
        assert [item["key"] for item in found["items"]] == ["u1"]
