"""The `prefect` CLI (same client as the SDK) against Warden with auth and
CSRF on, configured through env vars as a user would."""

from __future__ import annotations

import json
import uuid

import pytest

from harness import ApiSession, OpenAPI, run_prefect_cli
from scenarios import Scenario


@pytest.fixture(scope="module")
def secured(scenario_pool) -> Scenario:
    return scenario_pool.get("env")


def test_prefect_cli_variables_and_flows(secured: Scenario, openapi: OpenAPI) -> None:
    suffix = uuid.uuid4().hex[:10]
    var_name = f"cli_{suffix}"
    flow_name = f"cli-flow-{suffix}"

    api = ApiSession(secured.server.api_url, secured.auth, csrf=True)
    try:
        created = api.write("POST", "/flows/", json={"name": flow_name})
        assert created.status_code in (200, 201), created.text

        env, cwd = secured.client()
        run = run_prefect_cli(["variable", "set", var_name, '{"k": [1, 2]}'], env, cwd)
        assert run.proc.returncode == 0, run.describe()
        assert f"Set variable '{var_name}'" in run.proc.stdout, run.describe()

        stored = api.get(f"/variables/name/{var_name}")
        assert stored.status_code == 200, stored.text
        assert openapi.validate("GET", "/variables/name/{name}", stored)["value"] == {"k": [1, 2]}
    finally:
        api.close()

    run = run_prefect_cli(["variable", "get", var_name], env, cwd)
    assert run.proc.returncode == 0, run.describe()
    assert json.loads(run.proc.stdout) == {"k": [1, 2]}

    run = run_prefect_cli(["variable", "ls", "--limit", "200", "-o", "json"], env, cwd)
    assert run.proc.returncode == 0, run.describe()
    listed = {v["name"]: v["value"] for v in json.loads(run.proc.stdout)}
    assert listed.get(var_name) == {"k": [1, 2]}

    run = run_prefect_cli(["flow", "ls", "--limit", "200", "-o", "json"], env, cwd)
    assert run.proc.returncode == 0, run.describe()
    assert flow_name in [f["name"] for f in json.loads(run.proc.stdout)]


def test_prefect_cli_wrong_credentials(secured: Scenario) -> None:
    env, cwd = secured.client(auth="admin:wrong")
    run = run_prefect_cli(["variable", "ls"], env, cwd)
    assert run.proc.returncode != 0, run.describe()
    assert "401" in run.proc.stdout + run.proc.stderr, run.describe()
