"""The Agent Protocol's ``/assistants`` over a loopback server, through the official
client ``langgraph_sdk`` (as WIRE.md §1-2 describes ``langgraph dev``'s answers)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from graph_apps import stateless_counter_graph
from langgraph_sdk import get_client, get_sync_client
from protocol_apps import protocol_app, refusal, serve_with_lifespan
from servers import serve

import chainserve
from chainserve.agents import add_graphs

GRAPHS = {"counter", "nested", "ask", "parent"}


@pytest.fixture
def url(tmp_path: Path, database: str) -> Iterator[str]:
    with serve_with_lifespan(protocol_app(tmp_path, database)) as base:
        yield base


def test_ok_and_info(url: str) -> None:
    assert httpx.get(f"{url}/ok").json() == {"ok": True, "services": {}}
    info = httpx.get(f"{url}/info").json()
    assert info["version"] == chainserve.__version__ and info["server"] == "chainserve"
    assert info["langgraph_py_version"] == version("langgraph")
    assert info["flags"] == {"assistants": True, "crons": False, "langsmith": False}


async def test_one_default_assistant_per_graph(url: str) -> None:
    client = get_client(url=url)
    found = await client.assistants.search(limit=10)
    assert {a["graph_id"] for a in found} == GRAPHS
    for assistant in found:
        assert assistant["name"] == assistant["graph_id"]
        assert assistant["metadata"] == {"created_by": "system"}
        assert (assistant["config"], assistant["context"], assistant["version"]) == ({}, {}, 1)
        assert uuid.UUID(assistant["assistant_id"]).version == 5
    (counter,) = await client.assistants.search(graph_id="counter")
    assert await client.assistants.get("counter") == counter  # the graph id is accepted
    assert await client.assistants.get(counter["assistant_id"]) == counter
    assert await client.assistants.count() == 4
    assert await client.assistants.count(graph_id="nested") == 1


async def test_search_pages_sorts_filters_and_selects(url: str) -> None:
    client = get_client(url=url)
    for team in ("a", "b"):
        await client.assistants.create("counter", metadata={"team": team}, name=f"team-{team}")
    async with httpx.AsyncClient(base_url=url) as raw:
        response = await raw.post("/assistants/search", json={"limit": 2, "offset": 1})
        assert len(response.json()) == 2
        assert response.headers["x-pagination-total"] == "4"
        assert response.headers["x-pagination-next"] == "3"
        response = await raw.post("/assistants/search", json={"limit": 10})
        assert response.headers["x-pagination-total"] == "6"
        assert "x-pagination-next" not in response.headers
    newest_first = await client.assistants.search()
    assert newest_first[0]["name"] == "team-b"  # newest created_at first
    by_name = await client.assistants.search(sort_by="name", sort_order="asc")
    assert [a["name"] for a in by_name] == sorted(a["name"] for a in by_name)
    assert [a["name"] for a in await client.assistants.search(metadata={"team": "a"})] == ["team-a"]
    assert len(await client.assistants.search(metadata={"created_by": "system"})) == 4
    assert await client.assistants.search(name="team-b", select=["name", "version"]) == [
        {"name": "team-b", "version": 1}
    ]
    paged = await client.assistants.search(limit=2, response_format="object")
    assert len(paged["assistants"]) == 2 and paged["next"] == "2"
    assert await client.assistants.count(metadata={"team": "b"}) == 1


async def test_graph_drawing_with_and_without_xray(url: str) -> None:
    client = get_client(url=url)
    drawn = await client.assistants.get_graph("counter")
    assert drawn["nodes"] == [
        {"id": "__start__", "type": "runnable", "data": {"name": "__start__"}},
        {"id": "reply", "type": "runnable", "data": {"name": "reply"}},
        {"id": "__end__"},
    ]
    assert drawn["edges"] == [
        {"source": "__start__", "target": "reply"},
        {"source": "reply", "target": "__end__"},
    ]
    (counter,) = await client.assistants.search(graph_id="counter")
    assert await client.assistants.get_graph(counter["assistant_id"], xray=True) == drawn
    async with httpx.AsyncClient(base_url=url) as raw:
        assert (await raw.get("/assistants/counter/graph?xray=1")).json() == drawn
        for query in ("xray=bogus", "xray=-1"):
            response = await raw.get(f"/assistants/counter/graph?{query}")
            assert response.status_code == 422 and "xray" in response.json()["detail"]


async def test_a_subgraph_drawn_with_xray_and_its_schemas(url: str) -> None:
    client = get_client(url=url)
    plain = await client.assistants.get_graph("parent")
    assert [node["id"] for node in plain["nodes"]] == ["__start__", "prep", "child", "__end__"]
    flat = await client.assistants.get_graph("parent", xray=True)
    assert [node["id"] for node in flat["nodes"]] == ["__start__", "prep", "__end__", "child:reply"]
    assert {"source": "prep", "target": "child:reply"} in flat["edges"]
    assert {"source": "child:reply", "target": "__end__"} in flat["edges"]
    subgraphs = await client.assistants.get_subgraphs("parent")
    assert list(subgraphs) == ["child"]
    assert subgraphs["child"]["state_schema"]["title"] == "LangGraphState"
    assert set(subgraphs["child"]) == {
        "input_schema",
        "output_schema",
        "state_schema",
        "config_schema",
        "context_schema",
    }
    assert await client.assistants.get_subgraphs("parent", namespace="child") == subgraphs
    assert await client.assistants.get_subgraphs("parent", recurse=True) == subgraphs


async def test_schemas_and_subgraphs(url: str) -> None:
    client = get_client(url=url)
    schemas = await client.assistants.get_schemas("counter")
    assert schemas["graph_id"] == "counter"
    # A typing.TypedDict state: no input schema from pydantic on 3.11, a state schema still.
    state = schemas["state_schema"]
    assert state["title"] == "counter_state"
    assert state["properties"]["count"] == {"default": None, "title": "Count", "type": "integer"}
    assert set(schemas) == {
        "graph_id",
        "input_schema",
        "output_schema",
        "state_schema",
        "config_schema",
        "context_schema",
    }
    assert schemas["config_schema"] == {} and schemas["context_schema"] is None
    assert (await client.assistants.get_schemas("nested"))["state_schema"] is not None
    assert await client.assistants.get_subgraphs("counter") == {}
    assert await client.assistants.get_subgraphs("counter", namespace="x", recurse=True) == {}
    async with httpx.AsyncClient(base_url=url) as raw:
        response = await raw.get("/assistants/counter/subgraphs?recurse=maybe")
        assert response.status_code == 422 and "recurse" in response.json()["detail"]


async def test_create_mirrors_context_and_refuses_conflicts(url: str) -> None:
    client = get_client(url=url)
    created = await client.assistants.create(
        "counter",
        config={"tags": ["t1"], "recursion_limit": 10},
        context={"k": "v"},
        metadata={"team": "a"},
        name="my-counter",
        description="desc",
    )
    assert created["config"] == {"tags": ["t1"], "recursion_limit": 10, "configurable": {"k": "v"}}
    assert created["context"] == {"k": "v"} and created["metadata"] == {"team": "a"}
    assert (created["version"], created["description"]) == (1, "desc")
    only_config = await client.assistants.create("counter", config={"configurable": {"x": 1}})
    assert only_config["context"] == {"x": 1}
    chosen = str(uuid.uuid4())
    mine = await client.assistants.create("counter", assistant_id=chosen, name="mine")
    assert mine["assistant_id"] == chosen
    again = client.assistants.create("counter", assistant_id=chosen, name="other")
    assert await refusal(again) == (409, f"Assistant {chosen} already exists")
    kept = await client.assistants.create(
        "counter", assistant_id=chosen, name="other", if_exists="do_nothing"
    )
    assert kept == mine
    both = client.assistants.create("counter", config={"configurable": {"a": 1}}, context={"b": 2})
    status, detail = await refusal(both)
    assert status == 400 and detail.startswith("Cannot specify both configurable and context")
    status, detail = await refusal(client.assistants.create("nope"))
    assert status == 404 and detail.startswith("Graph 'nope' not found. Expected one of:")
    bad_id = client.assistants.create("counter", assistant_id="not-a-uuid")
    assert await refusal(bad_id) == (422, "Invalid assistant ID: must be a UUID")


async def test_update_versions_latest_and_delete(url: str) -> None:
    client = get_client(url=url)
    first = await client.assistants.create(
        "counter", context={"x": 1, "y": 2}, metadata={"a": 1, "b": 2}, name="v1"
    )
    aid = first["assistant_id"]
    second = await client.assistants.update(aid, context={"y": 5}, metadata={"b": 3, "c": 4})
    assert second["version"] == 2 and second["name"] == "v1"  # not sent: kept
    assert second["metadata"] == {"a": 1, "b": 3, "c": 4}  # merged
    assert second["context"] == {"y": 5} and second["config"]["configurable"] == {"y": 5}
    assert second["updated_at"] > first["updated_at"]
    third = await client.assistants.update(aid, name="v3")
    assert (third["version"], third["context"]) == (3, {"y": 5})
    versions = await client.assistants.get_versions(aid)
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert "updated_at" not in versions[0] and versions[2]["name"] == "v1"
    assert [v["version"] for v in await client.assistants.get_versions(aid, limit=1)] == [3]
    assert [v["version"] for v in await client.assistants.get_versions(aid, metadata={"c": 4})] == [
        3,
        2,
    ]
    latest = await client.assistants.set_latest(aid, 1)
    assert (latest["version"], latest["name"], latest["context"]) == (1, "v1", {"x": 1, "y": 2})
    assert await client.assistants.get(aid) == latest
    assert (await refusal(client.assistants.set_latest(aid, 9)))[0] == 404
    assert await client.assistants.delete(aid) is None
    assert await refusal(client.assistants.get(aid)) == (404, "Not Found")
    gone = client.assistants.delete(aid)
    assert await refusal(gone) == (404, f"Assistant with ID {aid} not found")
    unknown = str(uuid.uuid4())
    assert await refusal(client.assistants.update(unknown, name="x")) == (
        404,
        f"Assistant {unknown} not found",
    )


async def test_errors_are_json_with_a_detail(url: str) -> None:
    client = get_client(url=url)
    unknown = str(uuid.uuid4())
    assert await refusal(client.assistants.get(unknown)) == (404, "Not Found")
    assert (await refusal(client.assistants.get_graph(unknown)))[0] == 404
    assert (await refusal(client.assistants.get_schemas(unknown)))[0] == 404
    not_uuid = client.assistants.get("not-a-graph")
    assert await refusal(not_uuid) == (422, "Invalid assistant ID: must be a UUID")
    async with httpx.AsyncClient(base_url=url) as raw:
        for body in (b"{not json", b""):
            response = await raw.post(
                "/assistants", content=body, headers={"content-type": "application/json"}
            )
            assert response.status_code == 422
            assert response.json() == {"detail": "Invalid JSON in request body"}
        for bad in ({"sort_by": "bogus"}, {"sort_order": "up"}, {"limit": 0}, {"select": ["x"]}):
            response = await raw.post("/assistants/search", json=bad)
            assert response.status_code == 422, bad
            assert isinstance(response.json()["detail"], str)
        response = await raw.post("/assistants/search", json=[1])
        assert response.status_code == 422
        response = await raw.post("/assistants", json={"name": "no graph"})
        assert response.status_code == 422 and "graph_id" in response.json()["detail"]
        assert (await raw.post("/assistants/search", json={"bogus": 1})).status_code == 200
        assert (await raw.put("/assistants/search")).status_code == 405


def test_the_sync_client(url: str) -> None:
    client = get_sync_client(url=url)
    assert {a["graph_id"] for a in client.assistants.search()} == GRAPHS
    created = client.assistants.create("ask", name="sync")
    assert client.assistants.get(created["assistant_id"])["name"] == "sync"
    assert client.assistants.count(graph_id="ask") == 2
    client.assistants.delete(created["assistant_id"])
    assert client.assistants.count(graph_id="ask") == 1


def test_assistants_persist_and_defaults_come_back(tmp_path: Path) -> None:
    with serve_with_lifespan(protocol_app(tmp_path)) as url:
        client = get_sync_client(url=url)
        created = client.assistants.create("counter", name="kept")
        client.assistants.update(created["assistant_id"], name="kept v2")
        default = client.assistants.get("counter")
        client.assistants.delete(default["assistant_id"])
    with serve_with_lifespan(protocol_app(tmp_path)) as url:
        client = get_sync_client(url=url)
        kept = client.assistants.get(created["assistant_id"])
        assert (kept["name"], kept["version"]) == ("kept v2", 2)
        assert client.assistants.get("counter")["assistant_id"] == default["assistant_id"]
        assert client.assistants.count() == 5


def test_served_without_lifespan_it_opens_on_first_use(tmp_path: Path) -> None:
    app = FastAPI()
    add_graphs(app, {"counter": stateless_counter_graph()}, database=f"sqlite:///{tmp_path}/db")
    with serve(app) as url:  # lifespan="off"
        client = get_sync_client(url=url)
        assert [a["graph_id"] for a in client.assistants.search()] == ["counter"]
        thread = client.threads.create(graph_id="counter")
        client.threads.update_state(thread["thread_id"], {"count": 1}, as_node="reply")
        assert client.threads.get(thread["thread_id"])["values"]["count"] == 1


def test_agent_protocol_false_serves_only_the_graphs(tmp_path: Path) -> None:
    app = FastAPI()
    graphs = {"counter": stateless_counter_graph()}
    add_graphs(app, graphs, database=f"sqlite:///{tmp_path}/db", agent_protocol=False)
    with serve_with_lifespan(app) as url:
        assert httpx.post(f"{url}/assistants/search", json={}).status_code == 404
        assert httpx.get(f"{url}/counter/input_schema").status_code == 200
