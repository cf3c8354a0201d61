"""Issue 3 acceptance: a flow with 1,000 tasks, run by the real Prefect SDK
against Warden on each storage engine with auth and CSRF on, completes, and
every task run and every one of its state events is recorded: none lost."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from harness import OpenAPI, run_script
from readback import Reader, wait_until
from scenarios import Scenario

N = 1000


@pytest.fixture(scope="module")
def reader(engine: Scenario, openapi: OpenAPI):
    r = Reader(engine, openapi)
    yield r
    r.close()


@pytest.fixture(scope="module")
def thousand(engine: Scenario) -> dict:
    prefix = "k" + uuid.uuid4().hex[:10]
    started = datetime.now(timezone.utc) - timedelta(minutes=1)
    env, cwd = engine.client()
    out = run_script("tier1_flows.py", [prefix, "thousand"], env, cwd).result()["thousand"]
    assert "error" not in out, out["error"]
    return {**out, "prefix": prefix, "started": started}


def test_thousand_tasks_complete(thousand: dict) -> None:
    assert (thousand["type"], thousand.get("result")) == ("COMPLETED", sum(range(N))), thousand


def test_every_task_run_recorded(thousand: dict, reader: Reader) -> None:
    flow_run_id = thousand["flow_run_id"]
    tasks = reader.settled_task_runs(flow_run_id, N, timeout=120)
    assert len(tasks) == N
    assert len({t["dynamic_key"] for t in tasks}) == N
    assert all(t["name"] == f"unit-{t['dynamic_key'][:3]}" for t in tasks)
    assert all((t["state_name"], t["run_count"]) == ("Completed", 1) for t in tasks)
    assert len({t["id"] for t in tasks}) == N
    count = reader.post("/task_runs/count", {"task_runs": {"flow_run_id": {"any_": [flow_run_id]}}})
    assert count == N
    run = reader.flow_run(flow_run_id)
    assert run["state_type"] == "COMPLETED"


def test_no_event_lost(thousand: dict, reader: Reader) -> None:
    flow_run_id = thousand["flow_run_id"]
    expected = {f"prefect.task-run.{state}": N for state in ("Pending", "Running", "Completed")}
    counts = wait_until(
        "every task-run event of the flow run",
        lambda: reader.event_counts(
            "prefect.task-run.", thousand["started"], related={"id": [f"prefect.flow-run.{flow_run_id}"]}
        ),
        lambda got: got == expected,
        timeout=120,
    )
    assert counts == expected
    flow_events = reader.event_counts(
        "prefect.flow-run.", thousand["started"], resource={"id": [f"prefect.flow-run.{flow_run_id}"]}
    )
    flow_events.pop("prefect.flow-run.heartbeat", None)  # the client's, how many depends on timing
    assert flow_events == {f"prefect.flow-run.{state}": 1 for state in ("Pending", "Running", "Completed")}
