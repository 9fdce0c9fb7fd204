"""The command line's choices for LangGraph projects, in-process: which TARGET is served
without one, the --help that says so, and one-line errors for what cannot be served."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainserve import cli
from chainserve._target import DEMO, ProjectOptions, default_database, default_target, load_app

PROJECT = {"graphs": {"counter": "./counter.py:graph"}}
COUNTER = "from graph_apps import stateless_counter_graph\ngraph = stateless_counter_graph()\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "counter.py").write_text(COUNTER)
    (tmp_path / "langgraph.json").write_text(json.dumps(PROJECT))
    return tmp_path


def test_a_folder_s_langgraph_json_is_served_without_target(project: Path) -> None:
    assert default_target(project) == str(project / "langgraph.json")


def test_a_pyproject_app_wins_over_langgraph_json(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.chainserve]\napp = "app.server:app"\n')
    assert default_target(project) == "app.server:app"


def test_langgraph_json_wins_over_a_pyproject_without_app(project: Path) -> None:
    (project / "pyproject.toml").write_text('[project]\nname = "agent"\n')
    assert default_target(project) == str(project / "langgraph.json")


def test_no_project_at_all_serves_the_demo(tmp_path: Path) -> None:
    assert default_target(tmp_path) == DEMO


def test_the_default_database_is_beside_the_json(project: Path) -> None:
    database = default_database(str(project / "langgraph.json"))
    assert database == f"sqlite:///{project.resolve()}/.chainserve/chainserve.sqlite"
    assert database.startswith("sqlite:////")  # an absolute path


def test_a_project_app_mounts_each_graph_at_its_id(project: Path) -> None:
    app = load_app(
        str(project / "langgraph.json"), project=ProjectOptions(f"sqlite:///{project}/t.sqlite")
    )
    assert cli.runnable_mounts(app) == ["/counter"]


def test_serve_help_says_which_target_is_served(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "path/to/langgraph.json (a LangGraph project" in help_text
    assert "[tool.chainserve] app of ./pyproject.toml" in help_text
    assert "if it sets none, ./langgraph.json" in help_text
    assert "--database URL" in help_text
    assert "sqlite:////absolute/path" in help_text
    assert "--max-concurrent-runs N background runs a langgraph.json TARGET executes" in help_text
    assert "--lost-runs {fail,retry} what becomes of the background runs" in help_text


def test_lost_runs_is_fail_or_retry(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["serve", "--lost-runs", "ignore"])
    assert "--lost-runs: invalid choice: 'ignore'" in capsys.readouterr().err


def test_max_concurrent_runs_is_a_positive_number(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["serve", "--max-concurrent-runs", "0"])
    assert "--max-concurrent-runs: must be at least 1, got 0" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{json}", "--database", "mysql://u:p@db/x"], "unsupported database URL scheme"),
        (["{json}", "--database", "sqlite://"], "bad database URL 'sqlite://'"),
        (["{json}", "--path", "/api"], "--path only applies to a Runnable TARGET"),
        (["counter:graph", "--database", "sqlite:///x.sqlite"], "--database only applies to a"),
        (["counter:graph", "--max-concurrent-runs", "2"], "--max-concurrent-runs only applies"),
        (["counter:graph", "--lost-runs", "retry"], "--lost-runs only applies"),
        (["{folder}/missing.json"], "cannot read"),
        (["{folder}/broken.json"], "is not valid JSON"),
    ],
)
def test_what_cannot_be_served_is_a_one_line_error(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(project)
    monkeypatch.setattr(cli, "_run", _must_not_serve)
    (project / "broken.json").write_text("{")
    arguments = [
        arg.format(json=project / "langgraph.json", folder=project) for arg in ["serve", *args]
    ]
    assert cli.main([*arguments, "--port", "0"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("chainserve: error: ") and error.count("\n") == 1, error
    assert message in error


def _must_not_serve(*args: object) -> int:
    raise AssertionError("the command went on to serve")
