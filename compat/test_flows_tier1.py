"""Issue 3 acceptance: real @flow/@task code run by the pinned Prefect SDK
against Warden on each storage engine (SQLite and PostgreSQL), with an auth
string and CSRF protection on (see engines.py). One client process per
engine runs every case (scripts/tier1_flows.py); each test then reads back,
through the API, what the server recorded: flow runs, task runs (count,
names, final states, run counts), state history order, logs and artifacts.
"""

from __future__ import annotations

import uuid

import pytest

from harness import OpenAPI, run_script
from readback import Reader, parse_time, wait_until
from scenarios import Scenario

CASES = [
    "sequential", "submit", "map", "async", "task_retries", "flow_retries", "subflow",
    "failing", "caching", "logs", "artifacts", "variables", "concurrency", "pause",
]

SERIAL_LIMIT = "tag:serial"


@pytest.fixture(scope="module")
def reader(engine: Scenario, openapi: OpenAPI):
    r = Reader(engine, openapi)
    yield r
    r.close()


@pytest.fixture(scope="module")
def flows(engine: Scenario, reader: Reader) -> dict:
    # The tagged-task case needs its v2 limit before it runs; the server is
    # shared for the session, so it may exist already.
    resp = reader.api.write("POST", "/v2/concurrency_limits/", json={"name": SERIAL_LIMIT, "limit": 1})
    assert resp.status_code in (201, 409), f"create {SERIAL_LIMIT}: {resp.status_code} {resp.text}"
    prefix = "t" + uuid.uuid4().hex[:10]
    env, cwd = engine.client()
    result = run_script("tier1_flows.py", [prefix, *CASES], env, cwd).result()
    result["prefix"] = prefix
    return result


def case(flows: dict, name: str) -> dict:
    out = flows[name]
    assert "error" not in out, f"case {name} raised in the client:\n{out['error']}"
    return out


def only_flow_run(reader: Reader, flow_name: str, flow_run_id: str) -> dict:
    runs = reader.flow_runs(flow_name)
    assert [r["id"] for r in runs] == [flow_run_id], runs
    return runs[0]


def state_names(states: list[dict]) -> list[str]:
    return [s["name"] for s in states]


def assert_completed_tasks(reader: Reader, flow_run_id: str, task: str, count: int,
                           names: list[str] | None = None) -> list[dict]:
    """The flow run has exactly `count` runs of `task`, each run once
    straight through Pending -> Running -> Completed."""
    tasks = reader.settled_task_runs(flow_run_id, count)
    assert len(tasks) == count, [t["name"] for t in tasks]
    assert len({t["dynamic_key"] for t in tasks}) == count
    assert len({t["task_key"] for t in tasks}) == 1
    if names is not None:  # the task sets task_run_name
        assert sorted(t["name"] for t in tasks) == sorted(names)
    for t in tasks:
        if names is None:
            # The SDK's default: "<task>-" plus the first 3 characters of the
            # dynamic key (a fresh UUID per call).
            assert t["name"] == f"{task}-{t['dynamic_key'][:3]}", t
        assert (t["state_type"], t["state_name"], t["run_count"]) == ("COMPLETED", "Completed", 1), t
        assert t["flow_run_id"] == flow_run_id
        assert t["start_time"] and t["end_time"], t
        assert state_names(reader.settled_task_run_states(t)) == ["Pending", "Running", "Completed"], t["name"]
    return tasks


def assert_completed_flow(reader: Reader, flows: dict, name: str, flow_suffix: str, result: object) -> dict:
    out = case(flows, name)
    assert (out["type"], out.get("result")) == ("COMPLETED", result), out
    run = only_flow_run(reader, f"{flows['prefix']}-{flow_suffix}", out["flow_run_id"])
    assert (run["state_type"], run["state_name"], run["run_count"]) == ("COMPLETED", "Completed", 1), run
    assert state_names(reader.flow_run_states(run["id"])) == ["Pending", "Running", "Completed"]
    return run


def test_sequential_tasks(flows: dict, reader: Reader) -> None:
    run = assert_completed_flow(reader, flows, "sequential", "sequential", 10)
    tasks = assert_completed_tasks(reader, run["id"], "add", 3)
    # Sequential calls: each starts after the previous one ended.
    ordered = sorted(tasks, key=lambda t: t["start_time"])
    for before, after in zip(ordered, ordered[1:]):
        assert parse_time(before["end_time"]) <= parse_time(after["start_time"])


def test_submitted_tasks(flows: dict, reader: Reader) -> None:
    run = assert_completed_flow(reader, flows, "submit", "submit", [0, 2, 4])
    assert_completed_tasks(reader, run["id"], "double", 3)


def test_mapped_tasks(flows: dict, reader: Reader) -> None:
    run = assert_completed_flow(reader, flows, "map", "map", [1, 4, 9, 16])
    assert_completed_tasks(reader, run["id"], "square", 4, names=["square-1", "square-2", "square-3", "square-4"])


def test_async_tasks(flows: dict, reader: Reader) -> None:
    run = assert_completed_flow(reader, flows, "async", "async", [1, 2, 3])
    assert_completed_tasks(reader, run["id"], "slow_inc", 3)


def test_task_retries(flows: dict, reader: Reader) -> None:
    out = case(flows, "task_retries")
    assert out["attempts"] == 3
    run = assert_completed_flow(reader, flows, "task_retries", "task-retries", "third time lucky")
    [flaky] = reader.settled_task_runs(run["id"], 1)
    assert flaky["name"].startswith("flaky-"), flaky
    assert (flaky["state_name"], flaky["run_count"]) == ("Completed", 3), flaky
    history = state_names(reader.settled_task_run_states(flaky))
    assert history == [
        "Pending", "Running", "AwaitingRetry", "Retrying", "AwaitingRetry", "Retrying", "Completed",
    ], history


def test_flow_retries(flows: dict, reader: Reader) -> None:
    out = case(flows, "flow_retries")
    assert (out["type"], out.get("result"), out["attempts"]) == ("COMPLETED", 42, 2), out
    run = only_flow_run(reader, f"{flows['prefix']}-flow-retries", out["flow_run_id"])
    assert (run["state_name"], run["run_count"]) == ("Completed", 2), run
    history = state_names(reader.flow_run_states(run["id"]))
    # The flow engine goes back to plain Running after AwaitingRetry (only
    # task runs use "Retrying").
    assert history == ["Pending", "Running", "AwaitingRetry", "Running", "Completed"], history
    # Only the second attempt reached the task.
    assert_completed_tasks(reader, run["id"], "add", 1)


def test_subflows_link_to_parent_task_runs(flows: dict, reader: Reader) -> None:
    parent = assert_completed_flow(reader, flows, "subflow", "parent", 13)
    children = reader.flow_runs(f"{flows['prefix']}-child")
    assert len(children) == 2, children
    # Each subflow call is a task run of the parent flow run, named after the
    # child flow, and finished with the subflow's state.
    wrappers = reader.settled_task_runs(parent["id"], 2)
    assert len(wrappers) == 2, wrappers
    by_id = {t["id"]: t for t in wrappers}
    assert all(t["name"].startswith(f"{flows['prefix']}-child") for t in wrappers), wrappers
    assert {children[0]["parent_task_run_id"], children[1]["parent_task_run_id"]} == set(by_id)
    for child in children:
        wrapper = by_id[child["parent_task_run_id"]]
        assert wrapper["flow_run_id"] == parent["id"]
        assert wrapper["state_type"] == "COMPLETED", wrapper
        assert (child["state_type"], child["run_count"]) == ("COMPLETED", 1), child
        assert state_names(reader.flow_run_states(child["id"])) == ["Pending", "Running", "Completed"]
        assert_completed_tasks(reader, child["id"], "add", 1)


def test_failing_flow(flows: dict, reader: Reader) -> None:
    out = case(flows, "failing")
    marker = f"boom-{flows['prefix']}"
    assert out["type"] == "FAILED" and marker in (out["message"] or ""), out
    run = only_flow_run(reader, f"{flows['prefix']}-failing", out["flow_run_id"])
    assert (run["state_type"], run["state_name"]) == ("FAILED", "Failed"), run
    assert marker in run["state"]["message"]
    assert "ValueError" in run["state"]["message"]
    assert state_names(reader.flow_run_states(run["id"])) == ["Pending", "Running", "Failed"]
    assert reader.settled_task_runs(run["id"], 0) == []


def test_task_caching(flows: dict, reader: Reader) -> None:
    out = case(flows, "caching")
    assert out["calls"] == 1, "the second flow run should have hit the cache"
    first, second = out["first"], out["second"]
    assert (first["type"], first.get("result"), second["type"], second.get("result")) == ("COMPLETED", 70, "COMPLETED", 70)
    runs = reader.flow_runs(f"{flows['prefix']}-caching")
    assert {r["id"] for r in runs} == {first["flow_run_id"], second["flow_run_id"]}
    assert_completed_tasks(reader, first["flow_run_id"], "expensive", 1)
    [cached] = reader.settled_task_runs(second["flow_run_id"], 1)
    assert cached["name"].startswith("expensive-"), cached
    assert (cached["state_type"], cached["state_name"]) == ("COMPLETED", "Cached"), cached
    history = state_names(reader.settled_task_run_states(cached))
    assert history[0] == "Pending" and history[-1] == "Cached", history
    assert "Completed" not in history


def test_logs(flows: dict, reader: Reader) -> None:
    out = case(flows, "logs")
    assert out["type"] == "COMPLETED", out
    run = only_flow_run(reader, f"{flows['prefix']}-logs", out["flow_run_id"])
    [chatty] = assert_completed_tasks(reader, run["id"], "chatty", 1)
    p = flows["prefix"]
    wanted = {
        f"flow-logger-{p}": (20, None),
        f"flow-print-{p}": (20, None),
        f"task-print-{p}": (20, chatty["id"]),
        f"task-logger-{p}": (30, chatty["id"]),
    }
    logs = wait_until(
        "the flow's log lines",
        lambda: reader.logs(run["id"]),
        lambda logs: set(wanted) <= {entry["message"] for entry in logs},
    )
    got = {entry["message"]: (entry["level"], entry["task_run_id"]) for entry in logs if entry["message"] in wanted}
    assert got == wanted
    ordered = [entry["message"] for entry in logs if entry["message"] in wanted]
    assert ordered == list(wanted), "logs/filter TIMESTAMP_ASC should return the lines in emission order"
    assert all(entry["flow_run_id"] == run["id"] for entry in logs)


def test_artifacts(flows: dict, reader: Reader) -> None:
    out = case(flows, "artifacts")
    assert out["type"] == "COMPLETED", out
    ids, p = out["result"], flows["prefix"]
    arts = reader.artifacts(out["flow_run_id"])
    assert [(a["id"], a["type"], a["key"]) for a in arts] == [
        (ids["markdown_v1"], "markdown", f"{p}-md"),
        (ids["markdown_v2"], "markdown", f"{p}-md"),
        (ids["table"], "table", f"{p}-table"),
        (ids["progress"], "progress", f"{p}-progress"),
    ]
    by_id = {a["id"]: a for a in arts}
    assert by_id[ids["markdown_v2"]]["data"] == "# second"
    assert by_id[ids["progress"]]["data"] == 100.0
    collections = reader.post(
        "/artifacts/latest/filter",
        {"artifacts": {"key": {"any_": [f"{p}-md", f"{p}-table", f"{p}-progress"]}}, "sort": "KEY_ASC"},
    )
    assert [(c["key"], c["latest_id"]) for c in collections] == [
        (f"{p}-md", ids["markdown_v2"]),
        (f"{p}-progress", ids["progress"]),
        (f"{p}-table", ids["table"]),
    ]
    # /artifacts/{key}/latest answers with that collection row (its own id,
    # the newest artifact's content), as Prefect does.
    latest = reader.get("/artifacts/{key}/latest", f"/artifacts/{p}-md/latest")
    assert (latest["id"], latest["key"], latest["description"], latest["data"]) == (
        collections[0]["id"], f"{p}-md", "v2", "# second",
    )


def test_variables(flows: dict, reader: Reader) -> None:
    out = case(flows, "variables")
    assert out["type"] == "COMPLETED", out
    assert out["result"] == {"missing": "fallback", "first": {"answer": 41}, "second": {"answer": 42}}
    name = f"{flows['prefix']}-var"
    assert reader.get("/variables/name/{name}", f"/variables/name/{name}")["value"] == {"answer": 42}


def test_tagged_tasks_serialise(flows: dict, reader: Reader) -> None:
    out = case(flows, "concurrency")
    assert out["type"] == "COMPLETED", out
    tasks = assert_completed_tasks(reader, out["flow_run_id"], "hold", 2)
    intervals = []
    for t in tasks:
        assert t["tags"] == ["serial"]
        states = {s["name"]: parse_time(s["timestamp"]) for s in reader.settled_task_run_states(t)}
        intervals.append((states["Running"], states["Completed"]))
    first, second = sorted(intervals)
    assert first[1] <= second[0], f"tag 'serial' has a limit of 1, yet the tasks ran at once: {intervals}"
    limit = reader.get("/v2/concurrency_limits/{id_or_name}", f"/v2/concurrency_limits/{SERIAL_LIMIT}")
    assert limit["active_slots"] == 0, "both slots should have been given back"


def test_pause_times_out(flows: dict, reader: Reader) -> None:
    out = case(flows, "pause")
    # Nobody resumes it: after its 2 s timeout the flow fails.
    assert out["type"] == "FAILED", out
    assert out["elapsed"] >= 2
    # The client proposes Failed once its wait is over. Depending on who is
    # first past the pause deadline, Prefect's server either accepts it
    # (the client's FlowPauseTimeout message) or rejects it with its own
    # Failed state ("The flow was failed and never resumed.").
    assert "never resumed" in (out["message"] or ""), out
    run = only_flow_run(reader, f"{flows['prefix']}-pause", out["flow_run_id"])
    assert (run["state_type"], run["state"]["message"]) == ("FAILED", out["message"]), run
    history = state_names(reader.flow_run_states(run["id"]))
    # The pause-expirations service may fail the run first; the client's own
    # Failed proposal is then accepted on top (Failed -> Failed is allowed,
    # as in Prefect), so one or two Failed states end the history.
    assert history[:4] == ["Pending", "Running", "Paused", "Failed"], history
    assert history[4:] in ([], ["Failed"]), history
