"""pause_flow_run with the real SDK, on each storage engine with auth and
CSRF on: a pause that times out fails the flow; a pause waiting for input
is resumed through resume_flow_run, whose input is validated against the
schema the flow saved (an invalid one is refused and the run stays paused),
stored under the keyset's response key and returned to the flow."""

from __future__ import annotations

import json
import uuid

import pytest

from harness import ApiSession, OpenAPI, run_script
from scenarios import Scenario


@pytest.fixture(scope="module")
def timed_out(engine: Scenario) -> dict:
    name = "pause-timeout-" + uuid.uuid4().hex[:10]
    env, cwd = engine.client()
    return run_script("pause_flow.py", ["timeout", name], env, cwd).result()


@pytest.fixture(scope="module")
def resumed(engine: Scenario) -> dict:
    name = "pause-input-" + uuid.uuid4().hex[:10]
    env, cwd = engine.client()
    return run_script("pause_flow.py", ["input", name], env, cwd).result()


def test_pause_timeout_fails_the_flow(timed_out: dict) -> None:
    assert timed_out["final_type"] == "FAILED", timed_out
    assert "paused and never resumed" in (timed_out["final_message"] or "") or timed_out["history"][-1] == "Failed"
    assert timed_out["history"][:3] == ["Pending", "Running", "Paused"], timed_out["history"]
    assert timed_out["history"][-1] == "Failed"


def test_pause_resumes_with_input(resumed: dict) -> None:
    assert resumed["final_type"] == "COMPLETED", resumed
    assert resumed["result"] == {"approver": "ada", "level": 3}
    assert "Cannot resume this run" in resumed["invalid_resume_error"]
    assert "level" in resumed["invalid_resume_error"]
    assert resumed["history"] == ["Pending", "Running", "Paused", "Running", "Completed"], resumed["history"]


def test_resume_input_recorded(resumed: dict, engine: Scenario, openapi: OpenAPI) -> None:
    api = ApiSession(engine.server.api_url, engine.auth, csrf=engine.secured)
    try:
        run_id = resumed["run_ids"][0]
        resp = api.write("POST", f"/flow_runs/{run_id}/input/filter", json={"prefix": "paused-", "limit": 10})
        assert resp.status_code == 200, resp.text
        inputs = openapi.validate("POST", "/flow_runs/{id}/input/filter", resp)
        by_key = {i["key"]: i for i in inputs}
        response_keys = [k for k in by_key if k.endswith("-response")]
        assert len(response_keys) == 1, sorted(by_key)
        assert json.loads(by_key[response_keys[0]]["value"]) == {"approver": "ada", "level": 3}
        assert any(k.endswith("-schema") for k in by_key)
        resp = api.get(f"/flow_runs/{run_id}/input/{response_keys[0]}")
        assert resp.status_code == 200
        assert json.loads(resp.text) == {"approver": "ada", "level": 3}
        graph = openapi.validate("GET", "/flow_runs/{id}/graph-v2", api.get(f"/flow_runs/{run_id}/graph-v2"))
        assert [s["name"] for s in graph["states"]] == resumed["history"]
    finally:
        api.close()
