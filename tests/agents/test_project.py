"""``load_project``: a langgraph.json's graphs, dependencies and env, and its mistakes."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from langchain_core.runnables import Runnable, RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.pregel import Pregel

from chainserve.agents import RESERVED_IDS, ProjectError, load_project
from chainserve.exceptions import ChainserveError

WriteProject = Callable[..., Path]  # the write_project fixture


def _count(graph: Runnable) -> int:
    config = {"configurable": {"thread_id": "t"}}
    result: int = graph.invoke({"messages": [("user", "hi")]}, config)["count"]
    return result


@pytest.mark.parametrize(
    ("variable", "name"),
    [
        ("graph", "LangGraph"),  # a compiled graph
        ("builder", "LangGraph"),  # a StateGraph, compiled on load
        ("make_graph", "made"),  # a factory without parameters
        ("make_graph_from", "made from {}"),  # a factory taking a RunnableConfig
        ("make_graph_async", "made async"),  # an async factory
    ],
)
def test_each_kind_of_graph_variable_loads_as_a_compiled_graph(
    write_project: WriteProject, variable: str, name: str
) -> None:
    project = load_project(write_project({"graphs": {"agent": f"./graphs.py:{variable}"}}))
    graph = project.graphs["agent"]
    assert isinstance(graph, Pregel)
    assert graph.name == name
    assert graph.checkpointer is None
    assert _count(graph) == 1


def test_a_runnable_a_graph_with_a_checkpointer_and_the_long_form(
    write_project: WriteProject,
) -> None:
    path = write_project(
        {
            "graphs": {
                "upper": "graphs.py:runnable",  # no ./ is a file too
                "remembering": {"path": "./graphs.py:remembering", "description": "kept"},
            }
        }
    )
    project = load_project(path)
    assert list(project.graphs) == ["upper", "remembering"]
    assert isinstance(project.graphs["upper"], RunnableLambda)
    assert project.graphs["upper"].invoke("hi") == "HI"
    remembering = project.graphs["remembering"]
    assert isinstance(remembering, Pregel)
    assert isinstance(remembering.checkpointer, InMemorySaver)
    assert [_count(remembering), _count(remembering)] == [1, 2]
    assert project.path == path.resolve()
    assert project.folder == path.parent.resolve()


def test_two_graphs_of_one_file_share_one_import_of_it(write_project: WriteProject) -> None:
    graphs = {"a": "./graphs.py:graph", "b": "./graphs.py:builder"}
    project = load_project(write_project({"graphs": graphs}))
    a, b = project.graphs["a"], project.graphs["b"]
    assert isinstance(a, Pregel) and isinstance(b, Pregel)
    assert a.builder is b.builder  # the same module's builder, not a second import


def test_dependencies_let_a_graph_import_its_sibling_modules(
    write_project: WriteProject,
) -> None:
    graph = "from langchain_core.runnables import RunnableLambda\n"
    graph += "from sibling_of_graph import REPLY\n"
    graph += "graph = RunnableLambda(lambda _: REPLY)\n"
    path = write_project(
        {"dependencies": ["./lib", "langchain-openai"], "graphs": {"agent": "./agent.py:graph"}},
        **{"agent.py": graph, "lib/sibling_of_graph.py": "REPLY = 'from the sibling'\n"},
    )
    assert load_project(path).graphs["agent"].invoke(None) == "from the sibling"


def test_a_module_path_is_imported_from_the_dependencies(write_project: WriteProject) -> None:
    path = write_project(
        {"dependencies": ["."], "graphs": {"agent": "agents_package.chat:graph"}},
        **{
            "agents_package/__init__.py": "",
            "agents_package/chat.py": "from graphs import graph\n",
        },
    )
    assert isinstance(load_project(path).graphs["agent"], Pregel)


ENV_GRAPH = """
import os
from langchain_core.runnables import RunnableLambda
VALUE = os.environ["CHAINSERVE_TEST_VALUE"]  # read at import, as API keys are
graph = RunnableLambda(lambda _: VALUE)
"""


@pytest.mark.parametrize("form", ["object", "file"])
def test_env_is_set_before_the_graphs_are_imported(
    write_project: WriteProject, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    monkeypatch.delenv("CHAINSERVE_TEST_VALUE", raising=False)  # and removed afterwards
    monkeypatch.delenv("CHAINSERVE_TEST_OTHER", raising=False)
    dotenv = "# settings\nexport CHAINSERVE_TEST_VALUE='from the env'\nCHAINSERVE_TEST_OTHER=2\n"
    env = {"CHAINSERVE_TEST_VALUE": "from the env", "CHAINSERVE_TEST_OTHER": "2"}
    path = write_project(
        {"graphs": {"agent": "./agent.py:graph"}, "env": env if form == "object" else "./.env"},
        **{"agent.py": ENV_GRAPH, ".env": dotenv},
    )
    assert load_project(path).graphs["agent"].invoke(None) == "from the env"
    assert os.environ["CHAINSERVE_TEST_OTHER"] == "2"


def test_a_variable_already_in_the_environment_keeps_its_value(
    write_project: WriteProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAINSERVE_TEST_VALUE", "from the deployment")
    path = write_project(
        {"graphs": {"agent": "./agent.py:graph"}, "env": {"CHAINSERVE_TEST_VALUE": "default"}},
        **{"agent.py": ENV_GRAPH},
    )
    assert load_project(path).graphs["agent"].invoke(None) == "from the deployment"


def _graphs(spec: object) -> dict[str, object]:
    return {"graphs": {"agent": spec}}


BAD_PROJECTS = [
    pytest.param(None, "{", "is not valid JSON: Expecting", id="invalid-json"),
    pytest.param(None, "[]", "must hold a JSON object, not list", id="not-an-object"),
    pytest.param({}, None, "'graphs' must be an object of graph ids", id="no-graphs"),
    pytest.param({"graphs": {}}, None, "'graphs' must be an object", id="empty-graphs"),
    pytest.param({"graphs": ["x"]}, None, "'graphs' must be an object", id="graphs-list"),
    pytest.param(_graphs("./graphs.py"), None, "graph 'agent': must look like", id="no-colon"),
    pytest.param(_graphs("./graphs.py:"), None, "must look like './file.py:var", id="no-var"),
    pytest.param(_graphs(7), None, "graph 'agent': must look like", id="not-a-string"),
    pytest.param(_graphs("./agent.ts:graph"), None, "./agent.ts is not a Python", id="ts"),
    pytest.param(_graphs("./missing.py:g"), None, "./missing.py does not exist", id="no-file"),
    pytest.param(
        _graphs("./broken.py:graph"),
        None,
        "graph 'agent': importing ./broken.py failed: RuntimeError: no config file",
        id="import-fails",
    ),
    pytest.param(
        _graphs("no_such_module_here:graph"),
        None,
        "importing no_such_module_here failed: ModuleNotFoundError: No module named",
        id="no-module",
    ),
    pytest.param(
        _graphs("./graphs.py:nothing"), None, "has no variable 'nothing'", id="no-variable"
    ),
    pytest.param(
        _graphs("./graphs.py:number"),
        None,
        "./graphs.py:number is a int, not a compiled graph, a graph builder, a factory",
        id="not-a-graph",
    ),
    pytest.param(
        _graphs("./graphs.py:make_number"), None, "make_number returned a int", id="factory-int"
    ),
    pytest.param(
        _graphs("./graphs.py:make_failing"),
        None,
        "the factory ./graphs.py:make_failing failed: ValueError: no API key",
        id="factory-fails",
    ),
    pytest.param(
        _graphs("./graphs.py:make_two"), None, "must take no parameter or one", id="factory-args"
    ),
    pytest.param(
        _graphs("./graphs.py:unfinished"),
        None,
        "compiling ./graphs.py:unfinished failed: ValueError: Graph must have an entrypoint",
        id="compile-fails",
    ),
    pytest.param(
        {"graphs": {"my agent": "./graphs.py:graph"}},
        None,
        "graph id 'my agent' is not a URL path segment",
        id="id-space",
    ),
    pytest.param({"graphs": {"a/b": "./graphs.py:graph"}}, None, "'a/b' is not", id="id-slash"),
    pytest.param({"graphs": {"..": "./graphs.py:graph"}}, None, "'..' is not", id="id-dots"),
    pytest.param({"graphs": {"": "./graphs.py:graph"}}, None, "'' is not a URL", id="id-empty"),
    pytest.param(
        {"dependencies": ".", "graphs": {"a": "./graphs.py:graph"}},
        None,
        "'dependencies' must be a list of strings",
        id="dependencies-string",
    ),
    pytest.param(
        {"dependencies": ["./src"], "graphs": {"a": "./graphs.py:graph"}},
        None,
        "dependency './src' is not a folder",
        id="dependency-missing",
    ),
    pytest.param(
        {"env": "./.env", "graphs": {"a": "./graphs.py:graph"}},
        None,
        "env file './.env' does not exist",
        id="env-file-missing",
    ),
    pytest.param(
        {"env": {"PORT": 8000}, "graphs": {"a": "./graphs.py:graph"}},
        None,
        "'env' must be an object of strings or a dotenv file path",
        id="env-number",
    ),
]


@pytest.mark.parametrize(("config", "text", "message"), BAD_PROJECTS)
def test_a_bad_project_raises_a_one_line_project_error(
    write_project: WriteProject, config: object, text: str | None, message: str
) -> None:
    broken = "raise RuntimeError('no config file\\n(see the docs)')\n"  # two lines, said in one
    path = write_project(config, text=text, **{"broken.py": broken})
    with pytest.raises(ProjectError) as raised:
        load_project(path)
    assert message in str(raised.value)
    assert str(raised.value).startswith(str(path)), "the error names the file"
    assert "\n" not in str(raised.value)
    assert isinstance(raised.value, ChainserveError)


def test_a_missing_langgraph_json_is_a_project_error(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"cannot read .*langgraph.json: No such file"):
        load_project(tmp_path / "langgraph.json")


@pytest.mark.parametrize("graph_id", sorted(RESERVED_IDS))
def test_agent_protocol_paths_are_reserved_graph_ids(
    write_project: WriteProject, graph_id: str
) -> None:
    path = write_project({"graphs": {graph_id: "./graphs.py:graph"}})
    with pytest.raises(ProjectError, match=f"graph id '{graph_id}' is reserved"):
        load_project(path)


def test_the_reserved_ids_are_the_agent_protocol_roots() -> None:
    assert {
        *("assistants", "threads", "runs", "store", "ok", "info", "docs", "openapi.json"),
        *("metrics", "health", "ready", "mcp", "v1"),
    } == RESERVED_IDS


def test_ids_are_checked_before_any_graph_is_imported(write_project: WriteProject) -> None:
    path = write_project(
        {"graphs": {"fine": "./broken.py:graph", "threads": "./graphs.py:graph"}},
        **{"broken.py": "raise RuntimeError('imported')\n"},
    )
    with pytest.raises(ProjectError, match="reserved"):
        load_project(path)


async def test_an_async_factory_inside_a_running_loop_is_a_clear_error(
    write_project: WriteProject,
) -> None:
    path = write_project(_graphs("./graphs.py:make_graph_async"))
    with pytest.raises(ProjectError, match="cannot be loaded inside a running event loop"):
        load_project(path)


def test_keys_that_are_not_served_are_named_in_a_warning(
    write_project: WriteProject, caplog: pytest.LogCaptureFixture
) -> None:
    config = {"graphs": {"agent": "./graphs.py:graph"}, "auth": {"path": "./auth.py:auth"}}
    config["python_version"] = "3.11"  # for building images: ignored without a word
    with caplog.at_level(logging.WARNING, logger="chainserve.agents"):
        load_project(write_project(config))
    warned = [record.getMessage() for record in caplog.records]
    assert len(warned) == 1 and "'auth' is not supported" in warned[0]
    assert "served WITHOUT its authentication" in warned[0]
