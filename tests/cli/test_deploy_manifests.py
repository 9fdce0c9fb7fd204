"""deploy/: the Dockerfile, the compose file and the Kubernetes manifests agree with each
other, and name ports and probes the server really serves.

No Docker engine or cluster runs here, so the files are read statically (every YAML
parsed, the Dockerfile's instructions split), the image's CMD is run by ``sh`` as the
container would run it (with a stand-in ``chainserve`` that shows its argv, then with the
real one on a real Postgres), and every probe path the files name is asked of that server.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from running import environment, serving

from chainserve.agents._execution import DRAIN_SECONDS
from chainserve.cli import parse

ROOT = Path(__file__).parents[2]  # the build context: the Dockerfile copies from here
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
EXTRAS = {"langgraph", "postgres", "ops"}
DEFAULT_TARGET = "/project/langgraph.json"

# A LangGraph project as a user mounts one at /project: a graph without a checkpointer (so
# it gets the server's, in Postgres) and a Runnable.
GRAPH = """
from typing import TypedDict

from langchain_core.runnables import RunnableLambda
from langgraph.graph import START, StateGraph


class State(TypedDict):
    count: int


def step(state: State) -> dict:
    return {"count": state.get("count", 0) + 1}


builder = StateGraph(State)
builder.add_node("step", step)
builder.add_edge(START, "step")
graph = builder.compile()
echo = RunnableLambda(lambda text: text)
"""


def _write_project(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "graphs.py").write_text(GRAPH)
    graphs = {"counter": "./graphs.py:graph", "echo": "./graphs.py:echo"}
    (folder / "langgraph.json").write_text(json.dumps({"dependencies": ["."], "graphs": graphs}))
    return folder


# The Dockerfile


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, (KEYWORD, rest), continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    logical = ""
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):  # also skipped inside a continuation
            continue
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        keyword, _, rest = (logical + stripped).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        logical = ""
    assert not logical, "the Dockerfile ends inside a continuation line"
    return instructions


def _all(keyword: str) -> list[str]:
    return [rest for name, rest in _instructions() if name == keyword]


def _one(keyword: str) -> str:
    (rest,) = _all(keyword)
    return rest


def _exposed_port() -> int:
    return int(_one("EXPOSE").removesuffix("/tcp"))


def _healthcheck() -> list[str]:
    """The HEALTHCHECK's command (exec form), without its options."""
    _options, found, command = _one("HEALTHCHECK").partition("CMD ")
    assert found, "HEALTHCHECK without CMD"
    return json.loads(command)


def _healthcheck_url() -> str:
    (url,) = re.findall(r"https?://[^'\"\s]+", " ".join(_healthcheck()))
    return url


def _cmd_script() -> str:
    """The shell line the image's CMD runs (``sh -c LINE``)."""
    shell, flag, script = json.loads(_one("CMD"))
    assert (shell, flag) == ("sh", "-c")
    return script


def _served_argv(env: dict[str, str], tmp_path: Path) -> list[str]:
    """The argv ``chainserve`` gets when ``sh`` runs the CMD with ``env`` set."""
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir(exist_ok=True)
    stand_in = bin_folder / "chainserve"
    stand_in.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    stand_in.chmod(0o755)
    base = {
        k: v for k, v in environment().items() if k not in ("CHAINSERVE_TARGET", "DATABASE_URL")
    }
    path = f"{bin_folder}:{base.get('PATH', '')}"
    result = subprocess.run(
        ["sh", "-c", _cmd_script()],
        env={**base, "PATH": path, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _stop_time(tmp_path: Path) -> float:
    """The longest a server takes to stop after SIGTERM: its open requests and streams
    (--graceful-timeout), then its background runs' drain."""
    return parse(_served_argv({}, tmp_path)).graceful_timeout + DRAIN_SECONDS


def test_the_dockerfile_installs_this_checkout_with_the_extras() -> None:
    (image,) = _all("FROM")
    assert image == "python:3.11-slim"
    for copy in _all("COPY"):
        *sources, _destination = shlex.split(copy)
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the build context"
    user = _all("USER")[-1]
    assert user.isdigit() and int(user) != 0, "a numeric non-root USER (for runAsNonRoot)"
    (install,) = [line for line in _all("RUN") if "pip install" in line]
    (extras,) = re.findall(r"\.\[([\w,-]+)\]", install)
    assert set(extras.split(",")) == EXTRAS
    tomllib = pytest.importorskip("tomllib")
    defined = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # pip only warns about an extra a package does not define, and installs without it.
    assert set(extras.split(",")) <= set(defined["optional-dependencies"])


def test_the_dockerfile_exposes_checks_and_serves_one_port() -> None:
    port = _exposed_port()
    assert port == 8000
    url = urlsplit(_healthcheck_url())
    assert (url.hostname, url.port, url.path) == ("127.0.0.1", port, "/health")
    assert _healthcheck()[0] == "python"  # python:3.11-slim has no curl
    words = shlex.split(_cmd_script())
    assert words[:3] == ["exec", "chainserve", "serve"]  # exec: chainserve gets SIGTERM


def test_the_cmd_passes_the_target_and_database_url_as_one_word_each(tmp_path: Path) -> None:
    port = _exposed_port()
    args = parse(_served_argv({}, tmp_path))
    assert (args.command, args.target) == ("serve", DEFAULT_TARGET)
    assert (args.host, args.port) == ("0.0.0.0", port)
    assert args.database is None  # the project's SQLite file beside langgraph.json
    assert parse(_served_argv({"DATABASE_URL": ""}, tmp_path)).database is None
    url = "postgresql://user:pa ss$word'*@db:5432/name"  # spaces, $, quotes, globs
    args = parse(_served_argv({"DATABASE_URL": url}, tmp_path))
    assert (args.target, args.database) == (DEFAULT_TARGET, url)
    # A LangServe app: no DATABASE_URL, so no --database (which it would refuse).
    args = parse(_served_argv({"CHAINSERVE_TARGET": "app.server:app"}, tmp_path))
    assert (args.target, args.database) == ("app.server:app", None)


# Kubernetes


def _manifests() -> dict[str, dict[str, Any]]:
    """Every document of deploy/kubernetes/*.yaml by kind (one of each)."""
    found: dict[str, dict[str, Any]] = {}
    for file in sorted(KUBERNETES.glob("*.yaml")):
        for document in yaml.safe_load_all(file.read_text()):
            assert {"apiVersion", "kind", "metadata"} <= set(document), file.name
            assert document["metadata"]["name"], file.name
            assert document["kind"] not in found, f"two {document['kind']}s"
            found[document["kind"]] = document
    assert set(found) == {"Deployment", "Service", "HorizontalPodAutoscaler", "Secret"}
    return found


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _container_port(container: dict[str, Any], port: int | str) -> int:
    """``port`` (a number or a port's name) as the container's port number."""
    named = {entry["name"]: entry["containerPort"] for entry in container["ports"]}
    return named[port] if isinstance(port, str) else port


PROBES = ("startupProbe", "livenessProbe", "readinessProbe")


def test_the_deployment_serves_the_image_port_with_its_probes() -> None:
    deployment = _manifests()["Deployment"]
    assert deployment["apiVersion"] == "apps/v1"
    assert deployment["spec"]["replicas"] == 2
    template = deployment["spec"]["template"]
    labels = template["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    container = _container(deployment)
    assert "command" not in container and "args" not in container  # the image's CMD runs
    assert container["ports"] == [{"name": "http", "containerPort": _exposed_port()}]
    paths = {}
    for probe in PROBES:
        get = container[probe]["httpGet"]
        assert _container_port(container, get["port"]) == _exposed_port(), probe
        paths[probe] = get["path"]
    assert paths == {
        "startupProbe": "/health",
        "livenessProbe": "/health",
        "readinessProbe": "/ready",
    }
    annotations = template["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == _exposed_port()
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][bound]), bound
    assert template["spec"]["securityContext"]["runAsNonRoot"] is True


def test_the_pod_gets_longer_to_stop_than_the_server_takes(tmp_path: Path) -> None:
    spec = _manifests()["Deployment"]["spec"]["template"]["spec"]
    pre_stop = _container(_manifests()["Deployment"])["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    # SIGTERM comes after preStop; the server then takes up to _stop_time.
    needed = float(pre_stop[1]) + _stop_time(tmp_path)
    assert spec["terminationGracePeriodSeconds"] > needed


def test_the_service_and_the_autoscaler_target_the_deployment() -> None:
    manifests = _manifests()
    deployment, service, hpa = (
        manifests[kind] for kind in ("Deployment", "Service", "HorizontalPodAutoscaler")
    )
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    (port,) = service["spec"]["ports"]
    assert _container_port(_container(deployment), port["targetPort"]) == _exposed_port()
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": deployment["apiVersion"],
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    (metric,) = hpa["spec"]["metrics"]
    assert (metric["type"], metric["resource"]["name"]) == ("Resource", "cpu")
    # Utilization is a share of requests.cpu: without it the autoscaler cannot scale.
    assert "cpu" in _container(deployment)["resources"]["requests"]
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_the_database_url_comes_from_the_secret() -> None:
    manifests = _manifests()
    secret = manifests["Secret"]
    (variable,) = _container(manifests["Deployment"])["env"]
    assert variable["name"] == "DATABASE_URL"
    reference = variable["valueFrom"]["secretKeyRef"]
    assert reference["name"] == secret["metadata"]["name"]
    url = secret["stringData"][reference["key"]]
    assert urlsplit(url).scheme == "postgresql"


# docker compose


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def _compose_apps(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services built from deploy/Dockerfile."""
    return {name: service for name, service in compose["services"].items() if "build" in service}


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(
        float(amount) * units[unit] for amount, unit in re.findall(r"([\d.]+)(ms|s|m|h)", duration)
    )


def test_compose_runs_two_replicas_on_a_healthy_postgres(tmp_path: Path) -> None:
    compose = _compose()
    apps = _compose_apps(compose)
    replicas = sum(service.get("deploy", {}).get("replicas", 1) for service in apps.values())
    assert replicas == 2
    postgres = compose["services"]["postgres"]
    assert postgres["image"] == "postgres:16"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    host_ports = []
    for name, app in apps.items():
        build = app["build"]
        assert (DEPLOY / build["context"]).resolve() == ROOT, name
        assert (ROOT / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile", name
        for mapping in app["ports"]:
            host, container = mapping.rsplit(":", 1)
            assert int(container) == _exposed_port(), name
            host_ports.append(host)
        assert app["depends_on"]["postgres"]["condition"] == "service_healthy", name
        assert _seconds(app["stop_grace_period"]) > _stop_time(tmp_path), name
        url = urlsplit(app["environment"]["DATABASE_URL"])
        database = postgres["environment"]
        assert (url.scheme, url.hostname, url.port) == ("postgresql", "postgres", 5432), name
        assert (url.username, url.password, url.path) == (
            database["POSTGRES_USER"],
            database["POSTGRES_PASSWORD"],
            "/" + database["POSTGRES_DB"],
        ), name
        assert any(volume.endswith(":/project:ro") for volume in app["volumes"]), name
    assert len(set(host_ports)) == len(host_ports), "two replicas on one host port"


# The server itself


def _probe_paths() -> set[str]:
    """Every HTTP path the files have something ask of the server."""
    deployment = _manifests()["Deployment"]
    container = _container(deployment)
    paths = {container[probe]["httpGet"]["path"] for probe in PROBES}
    paths.add(deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"])
    paths.add(urlsplit(_healthcheck_url()).path)
    for app in _compose_apps(_compose()).values():
        test = app.get("healthcheck", {}).get("test", [])
        paths |= {urlsplit(url).path for url in re.findall(r"https?://[^'\"\s]+", " ".join(test))}
    return paths


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} is not once in {text!r}"
    return text.replace(old, new)


def _on_loopback(script: str, port: int) -> str:
    """The CMD's line, listening on 127.0.0.1:``port`` instead of 0.0.0.0:8000."""
    script = _replace_once(script, "--host 0.0.0.0", "--host 127.0.0.1")
    return _replace_once(script, f"--port {_exposed_port()}", f"--port {port}")


def test_the_cmd_serves_every_probe_the_files_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_server: Any
) -> None:
    project = _write_project(tmp_path / "project")
    monkeypatch.setenv("CHAINSERVE_TARGET", str(project / "langgraph.json"))
    monkeypatch.setenv("DATABASE_URL", postgres_server.database())  # as compose and k8s do
    paths = _probe_paths()
    assert {"/health", "/ready", "/metrics"} <= paths
    with serving(
        [],
        cwd=tmp_path,
        command=["sh", "-c"],
        bind=lambda port: [_on_loopback(_cmd_script(), port)],
    ) as server:
        for path in sorted(paths):
            response = httpx.get(f"{server.base_url}{path}", timeout=10)
            assert response.status_code == 200, (
                f"GET {path}: {response.status_code} {response.text}"
            )
        thread = {"input": {}, "config": {"configurable": {"thread_id": "t"}}}
        for count in (1, 2):  # the thread's state kept in Postgres
            invoked = httpx.post(f"{server.base_url}/counter/invoke", json=thread, timeout=30)
            assert invoked.status_code == 200, invoked.text
            assert invoked.json()["output"] == {"count": count}
        # The image's HEALTHCHECK, as docker runs it in the container.
        port = urlsplit(server.base_url).port
        healthcheck = [
            _replace_once(word, f"127.0.0.1:{_exposed_port()}", f"127.0.0.1:{port}")
            if "://" in word
            else word
            for word in _healthcheck()
        ]
        checked = subprocess.run(
            [sys.executable, *healthcheck[1:]], capture_output=True, text=True, timeout=30
        )
        assert checked.returncode == 0, checked.stderr
        assert server.stop(signal.SIGTERM) == 0  # sh exec'd: chainserve itself got SIGTERM
    output = server.output()
    assert "database:    postgresql://" in output, output
    assert "Finished server process" in output
    assert not (project / ".chainserve").exists()  # nothing written into a read-only mount
