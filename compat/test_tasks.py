"""Task runs recorded from the SDK's events (the task-run recorder), on each
storage engine with auth and CSRF on: a flow calling tasks sequentially,
with .submit(), .map() and an async task; and a flow with 1,000 tasks, none
of whose task runs or state events may be lost. Everything is read back
through the API and validated against Prefect's OpenAPI document."""

from __future__ import annotations

import time
import uuid

import pytest

from harness import ApiSession, OpenAPI, run_script
from scenarios import Scenario

# Events reach the recorder asynchronously and it writes in batches, so a
# black-box client polls the API until the rows settle.
SETTLE_TIMEOUT = 60.0


class Api:
    def __init__(self, scenario: Scenario, openapi: OpenAPI) -> None:
        self.session = ApiSession(scenario.server.api_url, scenario.auth, csrf=scenario.secured)
        self.openapi = openapi

    def post(self, template: str, body: dict, path: str | None = None) -> object:
        resp = self.session.write("POST", path or template, json=body)
        assert resp.status_code == 200, f"POST {path or template}: {resp.status_code} {resp.text[:500]}"
        return self.openapi.validate("POST", template, resp)

    def get(self, template: str, path: str | None = None, **params) -> object:
        resp = self.session.get(path or template, params=params)
        assert resp.status_code == 200, f"GET {path or template}: {resp.status_code} {resp.text[:500]}"
        return self.openapi.validate("GET", template, resp)

    def task_runs(self, flow_run_id: str) -> list[dict]:
        out: list[dict] = []
        while True:
            page = self.post("/task_runs/filter", {
                "flow_runs": {"id": {"any_": [flow_run_id]}}, "sort": "ID_DESC", "limit": 200, "offset": len(out)})
            out += page
            if len(page) < 200:
                return out

    def settled(self, flow_run_id: str, n: int) -> list[dict]:
        """The flow run's task runs once there are n, all in a final state."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while True:
            count = self.post("/task_runs/count", {"flow_runs": {"id": {"any_": [flow_run_id]}},
                                                   "task_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}})
            if count >= n or time.monotonic() > deadline:
                return self.task_runs(flow_run_id)
            time.sleep(0.2)


@pytest.fixture(scope="module")
def api(engine: Scenario, openapi: OpenAPI):
    a = Api(engine, openapi)
    yield a
    a.session.close()


def run_case(engine: Scenario, case: str) -> dict:
    prefix = "tr" + uuid.uuid4().hex[:10]
    env, cwd = engine.client()
    return run_script("tasks_flow.py", [prefix, case], env, cwd).result()


@pytest.fixture(scope="module")
def mixed(engine: Scenario) -> dict:
    return run_case(engine, "mixed")


def test_mixed_flow_completes(mixed: dict) -> None:
    assert mixed["type"] == "COMPLETED", mixed
    assert mixed["value"] == [1, 2, 3, 9, [1, 4, 9], 90]


def test_mixed_task_runs_recorded(mixed: dict, api: Api) -> None:
    runs = api.settled(mixed["flow_run_id"], 8)
    assert len(runs) == 8, [r["name"] for r in runs]
    kinds: dict[str, int] = {}
    for r in runs:
        prefix, kind, suffix = r["name"].split("-")  # "<prefix>-<task name>-<3 chars of dynamic_key>"
        kinds[kind] = kinds.get(kind, 0) + 1
        assert r["dynamic_key"].startswith(suffix), r
        assert (r["state_type"], r["state_name"], r["run_count"]) == ("COMPLETED", "Completed", 1), r
        assert r["state"]["id"] == r["state_id"]
        assert r["start_time"] and r["end_time"], r
        assert r["flow_run_id"] == mixed["flow_run_id"]
    assert kinds == {"step": 3, "square": 4, "scale": 1}
    assert len({r["dynamic_key"] for r in runs if "-square-" in r["name"]}) == 4


def test_mixed_state_history(mixed: dict, api: Api) -> None:
    for r in api.settled(mixed["flow_run_id"], 8):
        states = api.get("/task_run_states/", task_run_id=r["id"])
        assert [s["name"] for s in states] == ["Pending", "Running", "Completed"], r["name"]
        assert states[-1]["id"] == r["state_id"]
        assert all(s["state_details"]["task_run_id"] == r["id"] for s in states)
        got = api.get("/task_runs/{id}", f"/task_runs/{r['id']}")
        assert got["state"]["type"] == "COMPLETED"

# The 1,000-task acceptance run (task runs and events counted) lives in
# test_flows_thousand.py, once per engine.
