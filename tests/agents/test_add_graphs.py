"""``add_graphs``: graphs at their ids, on the server's SQLite checkpointer unless they
have their own, the database opened and closed by the app's lifespan."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import Depends, FastAPI, Header, HTTPException
from graph_apps import counter_graph, stateless_counter_graph
from langchain_core.runnables import Runnable, RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from starlette.requests import Request
from starlette.testclient import TestClient

from chainserve import RemoteRunnable
from chainserve.agents import DEFAULT_DATABASE, ProjectError, add_graphs, sqlite_file


def _count(client: TestClient, graph_id: str = "counter", thread: str = "t") -> int:
    remote = RemoteRunnable(f"http://test/{graph_id}")
    remote.sync_client = client
    on_thread = remote.with_config(configurable={"thread_id": thread})
    count: int = on_thread.invoke({"messages": [("user", "hi")]})["count"]
    return count


def _database(folder: Path) -> str:
    return f"sqlite:///{folder / 'threads.sqlite'}"


def test_a_graph_without_checkpointer_gets_the_server_s_on_a_copy(tmp_path: Path) -> None:
    graph = stateless_counter_graph()
    app = FastAPI()
    handlers = add_graphs(app, {"counter": graph}, database=_database(tmp_path))
    served = handlers["counter"].runnable
    assert served is not graph and graph.checkpointer is None  # the user's graph as it was
    assert isinstance(served.checkpointer, AsyncSqliteSaver)
    with TestClient(app) as client:
        assert [_count(client), _count(client), _count(client, thread="u")] == [1, 2, 1]
        assert Path(f"{tmp_path / 'threads.sqlite'}-wal").exists()  # open, in WAL mode
    # Closed at shutdown: the last connection to go folds the WAL file into the database.
    assert (tmp_path / "threads.sqlite").is_file()
    assert not Path(f"{tmp_path / 'threads.sqlite'}-wal").exists()


def test_threads_survive_a_new_app_and_a_second_start(tmp_path: Path) -> None:
    def app() -> FastAPI:
        app = FastAPI()
        add_graphs(app, {"counter": stateless_counter_graph()}, database=_database(tmp_path))
        return app

    with TestClient(app()) as client:
        assert [_count(client), _count(client)] == [1, 2]
    second = app()
    with TestClient(second) as client:
        assert _count(client) == 3
    with TestClient(second) as client:  # an app started again (a TestClient per test)
        assert _count(client) == 4


def test_without_a_lifespan_the_database_opens_on_first_use(tmp_path: Path) -> None:
    app = FastAPI()
    add_graphs(app, {"counter": stateless_counter_graph()}, database=_database(tmp_path))
    client = TestClient(app)  # no `with`: no lifespan, and a new event loop per request
    assert [_count(client), _count(client), _count(client)] == [1, 2, 3]


def test_a_graph_with_its_own_checkpointer_keeps_it(tmp_path: Path) -> None:
    saver = InMemorySaver()
    graph = counter_graph(saver)
    app = FastAPI()
    handlers = add_graphs(app, {"counter": graph}, database=_database(tmp_path))
    served = handlers["counter"].runnable
    assert served.checkpointer is saver and graph.checkpointer is saver
    # A copy with the server's store as its runtime store; the user's graph has none.
    assert served is not graph and graph.store is None
    with TestClient(app) as client:
        assert [_count(client), _count(client)] == [1, 2]
    assert not (tmp_path / "threads.sqlite").exists()  # no graph needed the database
    assert list(saver.list({"configurable": {"thread_id": "t"}}))


def test_checkpointer_false_and_plain_runnables_stay_as_they_are(tmp_path: Path) -> None:
    stateless = stateless_counter_graph().copy(update={"checkpointer": False})
    upper = RunnableLambda(lambda text: text.upper())
    app = FastAPI()
    graphs = {"stateless": stateless, "upper": upper}
    # (The Agent Protocol would keep threads of "upper": it runs it on the checkpointer.)
    handlers = add_graphs(app, graphs, database=_database(tmp_path), agent_protocol=False)
    assert handlers["stateless"].runnable.checkpointer is False
    assert handlers["upper"].runnable is upper
    with TestClient(app) as client:
        response = client.post("/stateless/invoke", json={"input": {"messages": ["hi"]}})
        assert response.status_code == 200, response.text  # no thread_id needed
        assert client.post("/upper/invoke", json={"input": "hi"}).json()["output"] == "HI"
    assert not (tmp_path / "threads.sqlite").exists()


def test_a_bound_graph_gets_the_checkpointer_on_a_copy_of_its_binding(tmp_path: Path) -> None:
    graph = stateless_counter_graph()
    started: list[str] = []
    bound: Runnable = graph.with_listeners(on_start=lambda run: started.append(run.name))
    app = FastAPI()
    served = add_graphs(app, {"counter": bound}, database=_database(tmp_path))["counter"].runnable
    assert served is not bound and bound.bound is graph and graph.checkpointer is None
    with TestClient(app) as client:
        assert [_count(client), _count(client)] == [1, 2]
    assert len(started) == 2  # the binding's listener ran


def test_the_app_s_own_lifespan_still_runs(tmp_path: Path) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        events.append("startup")
        yield {"greeting": "hello"}
        events.append("shutdown")

    def greeting(request: Request) -> str:
        return str(request.state.greeting)

    app = FastAPI(lifespan=lifespan)
    app.add_api_route("/greeting", greeting)
    add_graphs(app, {"counter": stateless_counter_graph()}, database=_database(tmp_path))
    with TestClient(app) as client:
        assert events == ["startup"]
        assert _count(client) == 1
        assert client.get("/greeting").json() == "hello"
    assert events == ["startup", "shutdown"]


def test_the_default_database_is_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = FastAPI()
    add_graphs(app, {"counter": stateless_counter_graph()})
    with TestClient(app) as client:
        assert _count(client) == 1
    assert DEFAULT_DATABASE == "sqlite:///.chainserve/chainserve.sqlite"
    assert (tmp_path / ".chainserve" / "chainserve.sqlite").is_file()
    assert (tmp_path / ".chainserve" / ".gitignore").read_text() == "*\n"  # kept out of git


def test_an_in_memory_database_lasts_one_start(tmp_path: Path) -> None:
    app = FastAPI()
    add_graphs(app, {"counter": stateless_counter_graph()}, database="sqlite:///:memory:")
    with TestClient(app) as client:
        assert [_count(client), _count(client)] == [1, 2]
    with TestClient(app) as client:
        assert _count(client) == 1


def test_the_database_folder_is_created(tmp_path: Path) -> None:
    app = FastAPI()
    database = f"sqlite:///{tmp_path / 'a' / 'b' / 'threads.sqlite'}"
    add_graphs(app, {"counter": stateless_counter_graph()}, database=database)
    assert (tmp_path / "a" / "b").is_dir()
    assert not (tmp_path / "a" / "b" / ".gitignore").exists()  # only in .chainserve/


def test_a_database_that_cannot_be_a_file_fails_at_once(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    for database, message in [
        (f"sqlite:///{tmp_path}", "is a folder, not a SQLite file"),
        (f"sqlite:///{tmp_path / 'file' / 'threads.sqlite'}", "cannot create the database folder"),
    ]:
        with pytest.raises(ProjectError, match=message):
            add_graphs(FastAPI(), {"counter": stateless_counter_graph()}, database=database)


def test_a_graph_asking_for_its_parent_s_checkpointer_gets_the_server_s(tmp_path: Path) -> None:
    graph = stateless_counter_graph().copy(update={"checkpointer": True})
    app = FastAPI()
    served = add_graphs(app, {"counter": graph}, database=_database(tmp_path))["counter"].runnable
    assert isinstance(served.checkpointer, AsyncSqliteSaver) and graph.checkpointer is True
    with TestClient(app) as client:
        assert [_count(client), _count(client)] == [1, 2]


@pytest.mark.parametrize(
    ("url", "file"),
    [
        ("sqlite:///threads.sqlite", "threads.sqlite"),
        ("sqlite:///data/threads.sqlite", "data/threads.sqlite"),
        ("sqlite:////var/lib/threads.sqlite", "/var/lib/threads.sqlite"),
        ("SQLite:///my%20threads.sqlite", "my threads.sqlite"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_sqlite_urls_name_a_file(url: str, file: str) -> None:
    assert sqlite_file(url) == file


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://chainserve:s3cret@db/threads", "unsupported database URL scheme 'mysql:'"),
        ("threads.sqlite", "unsupported database URL 'threads.sqlite'"),
        ("sqlite://host/threads.sqlite", "bad database URL 'sqlite://host/threads.sqlite'"),
        ("sqlite:///", "bad database URL"),
        ("sqlite:///threads.sqlite?mode=ro", "bad database URL"),
    ],
)
def test_other_database_urls_are_rejected_naming_what_works(
    tmp_path: Path, url: str, message: str
) -> None:
    with pytest.raises(ProjectError) as raised:
        add_graphs(FastAPI(), {"counter": stateless_counter_graph()}, database=url)
    assert message in str(raised.value)
    assert "sqlite:///relative/path.sqlite, sqlite:////absolute/path.sqlite" in str(raised.value)
    assert "postgresql://user:password@host:port/name" in str(raised.value)
    assert "s3cret" not in str(raised.value)  # a URL's password is not repeated


@pytest.mark.parametrize("graph_id", ["threads", "a b", ""])
def test_graph_ids_are_checked(graph_id: str) -> None:
    with pytest.raises(ProjectError, match="graph id"):
        add_graphs(FastAPI(), {graph_id: RunnableLambda(lambda x: x)})


@pytest.mark.parametrize("missing", ["aiosqlite", "langgraph.checkpoint.sqlite.aio"])
def test_without_the_sqlite_checkpointer_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.delitem(sys.modules, "chainserve.agents._sqlite", raising=False)
    monkeypatch.setitem(sys.modules, missing, None)  # as if not installed
    upper = RunnableLambda(lambda text: text.upper())
    # The LangServe routes of a plain runnable need none of it (the protocol's runs do).
    add_graphs(FastAPI(), {"upper": upper}, database=_database(tmp_path), agent_protocol=False)
    with pytest.raises(ProjectError) as raised:
        add_graphs(FastAPI(), {"counter": stateless_counter_graph()}, database=_database(tmp_path))
    assert str(raised.value) == (
        f'serving LangGraph graphs needs {missing}: pip install "chainserve[langgraph]"'
    )


def test_importing_chainserve_and_its_agents_package_does_not_import_langgraph() -> None:
    code = (
        "import sys, chainserve, chainserve.cli, chainserve.agents; "
        "assert not [m for m in sys.modules if m.startswith('langgraph')], 'langgraph imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_an_app_s_dependencies_guard_the_agent_protocol_too(tmp_path: Path) -> None:
    """Auth for the whole server: the app's dependencies run before every route."""

    def key(x_api_key: str | None = Header(None)) -> None:
        if x_api_key != "secret":
            raise HTTPException(401, "a key is needed")

    app = FastAPI(dependencies=[Depends(key)])
    add_graphs(app, {"counter": stateless_counter_graph()}, database=_database(tmp_path))
    with TestClient(app) as client:
        for method, path in [("post", "/threads"), ("post", "/runs/wait"), ("get", "/ok")]:
            assert client.request(method, path, json={}).status_code == 401, path
        ok = client.post("/threads", json={}, headers={"x-api-key": "secret"})
        assert ok.status_code == 200
        served = client.post("/counter/invoke", json={"input": {"messages": ["hi"]}})
        assert served.status_code == 401
