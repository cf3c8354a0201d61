"""A real @flow run with the Prefect SDK against Warden, once per
configuration (see scenarios.py): the flow run is recorded through
POST /flow_runs/ and set_state, and read back with its state history. Task
runs arrive through events and are checked elsewhere."""

from __future__ import annotations

import uuid

import pytest

from harness import ApiSession, OpenAPI, run_script
from scenarios import Scenario


@pytest.fixture(scope="module")
def flow_run(scenario: Scenario) -> dict:
    name = "run-" + uuid.uuid4().hex[:12]
    env, cwd = scenario.client()
    result = run_script("flow_run.py", [name], env, cwd).result()
    result["name"] = name
    return result


def test_flow_completes(flow_run: dict) -> None:
    assert flow_run["final_type"] == "COMPLETED"
    assert flow_run["result"] == 42


def test_flow_run_recorded(flow_run: dict) -> None:
    assert len(flow_run["runs"]) == 1, flow_run
    run = flow_run["runs"][0]
    assert run["state_type"] == "COMPLETED"
    assert run["state_name"] == "Completed"
    assert run["run_count"] == 1
    assert run["parameters"] == {"x": 41}
    assert run["has_start"] and run["has_end"]
    assert run["total_run_time"] >= 0


def test_state_history(flow_run: dict) -> None:
    assert flow_run["history"] == ["PENDING", "RUNNING", "COMPLETED"]


def test_recorded_run_matches_openapi(flow_run: dict, scenario: Scenario, openapi: OpenAPI) -> None:
    api = ApiSession(scenario.server.api_url, scenario.auth, csrf=scenario.secured)
    try:
        run_id = flow_run["runs"][0]["id"]
        got = openapi.validate("GET", "/flow_runs/{id}", api.get(f"/flow_runs/{run_id}"))
        assert got["state"]["type"] == "COMPLETED"
        states = openapi.validate("GET", "/flow_run_states/", api.get("/flow_run_states/", params={"flow_run_id": run_id}))
        assert [s["name"] for s in states] == ["Pending", "Running", "Completed"]
    finally:
        api.close()
