"""Metrics of the Agent Protocol's background runs, through ``langgraph_sdk``: the queue
(runs due, waiting for their thread), the runs executing, wait and duration by graph
and status."""

from __future__ import annotations

from pathlib import Path

from langgraph_sdk import get_client
from protocol_apps import Slow, runs_app, serve_with_lifespan
from scrape import labels, scrape

from chainserve.ops import add_operations


async def test_queue_depth_waits_and_durations_by_graph_and_status(tmp_path: Path) -> None:
    slow = Slow()
    app = runs_app(tmp_path, slow)
    add_operations(app)
    with serve_with_lifespan(app) as url:
        client = get_client(url=url)
        tid = (await client.threads.create())["thread_id"]
        for _ in range(2):
            await client.runs.wait(tid, "inc", input={"count": 1})
        failed = await client.runs.wait(tid, "inc", input={"count": -1}, raise_error=False)
        assert failed["__error__"]["error"] == "ValueError"
        busy = (await client.threads.create())["thread_id"]
        first = await client.runs.create(busy, "slow", input={"count": 0})
        await slow.until_started()
        second = await client.runs.create(busy, "slow", input={}, multitask_strategy="enqueue")
        during = scrape(url)
        slow.release.set()
        for run in (first, second):
            await client.runs.join(busy, run["run_id"])
        after = scrape(url)
    assert during["chainserve_background_runs_queued"] == {
        labels(graph="inc"): 0,
        labels(graph="slow"): 1,
    }
    assert during["chainserve_background_runs_running"] == {
        labels(graph="inc"): 0,
        labels(graph="slow"): 1,
    }
    for gauge in ("queued", "running"):
        assert set(after[f"chainserve_background_runs_{gauge}"].values()) == {0}
    assert after["chainserve_background_run_wait_seconds_count"] == {
        labels(graph="inc"): 3,
        labels(graph="slow"): 2,
    }
    assert after["chainserve_background_run_duration_seconds_count"] == {
        labels(graph="inc", status="success"): 2,
        labels(graph="inc", status="error"): 1,
        labels(graph="slow", status="success"): 2,
    }
    wait = labels(method="POST", route="/threads/{thread_id}/runs/wait", status="200")
    assert after["chainserve_http_requests_total"][wait] == 3
