"""The real Prefect SDK (async and sync clients, prefect.variables.Variable)
against Warden, once per configuration (see scenarios.py)."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from harness import basic_auth, run_script
from scenarios import WRONG_AUTH, Scenario

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def unique_prefix() -> str:
    # Variable names allow lowercase letters, digits, '-' and '_'.
    return "c" + uuid.uuid4().hex[:12]


@pytest.fixture(scope="module")
def sdk(scenario: Scenario) -> dict:
    prefix = unique_prefix()
    env, cwd = scenario.client()
    result = run_script("sdk_roundtrip.py", [prefix], env, cwd).result()
    result["prefix"] = prefix
    return result


def part(sdk: dict, key: str) -> dict:
    out = sdk[key]
    assert "error" not in out, f"SDK part {key} raised:\n{out['error']}"
    return out


@pytest.mark.parametrize("key", ["async_connect", "sync_connect"])
def test_client_connects(sdk: dict, scenario: Scenario, key: str) -> None:
    out = part(sdk, key)
    # Guards against the SDK silently falling back to an ephemeral server.
    assert out["api_url"].rstrip("/") == scenario.server.api_url
    assert out["healthcheck_error"] is None
    assert out["hello"] == {"status": 200, "json": "👋"}
    # raise_for_api_version_mismatch passed; the reported version is Prefect 3.
    assert out["api_version"].split(".")[0] == "3"


@pytest.mark.parametrize("key", ["async_flows", "sync_flows"])
def test_flow_roundtrip(sdk: dict, key: str) -> None:
    out = part(sdk, key)
    name = f"{sdk['prefix']}-{key.split('_')[0]}-flow"
    flow_id = out["created_id"]
    uuid.UUID(flow_id)
    # create_flow_from_name is idempotent: the same name gives the same flow.
    assert out["created_again_id"] == flow_id
    assert out["read_flow"] == {"id": flow_id, "name": name}
    assert out["read_flow_by_name"] == {"id": flow_id, "name": name}
    assert out["read_flows_filtered"] == [{"id": flow_id, "name": name}]
    assert {"id": flow_id, "name": name} in out["read_flows_all"]


def test_variables_async_client(sdk: dict) -> None:
    out = part(sdk, "async_variables")
    name = f"{sdk['prefix']}_async_var"
    created = out["created"]
    uuid.UUID(created["id"])
    assert created == {"id": created["id"], "name": name, "value": {"answer": 42, "list": [1, "two"]}, "tags": ["compat"]}
    assert out["duplicate_status"] == 409
    assert out["read"] == created
    assert out["read_after_update"] == {"id": created["id"], "name": name, "value": "updated", "tags": ["compat", "updated"]}
    assert out["read_after_delete"] is None
    assert out["delete_missing_status"] == 404


def test_variables_sync_client(sdk: dict) -> None:
    out = part(sdk, "sync_variables")
    name = f"{sdk['prefix']}_sync_var"
    created = out["created"]
    assert created["name"] == name and created["value"] == 7 and created["tags"] == ["compat"]
    assert out["duplicate_status"] == 409
    assert out["read"] == created
    # A PATCH without tags leaves the tags alone.
    assert out["read_after_update"] == {**created, "value": [1, 2, 3]}
    assert out["read_after_delete"] is None
    assert out["delete_missing_status"] == 404


def test_variable_class(sdk: dict) -> None:
    out = part(sdk, "variable_class")
    assert out["get"] == {"k": "v"}
    assert out["set_existing_error"] and "already exists" in out["set_existing_error"]
    assert out["get_after_overwrite"] == "overwritten"
    assert out["unset"] is True
    assert out["get_after_unset"] == "gone"
    assert out["unset_again"] is False


@pytest.mark.parametrize("key", ["async_flows", "sync_flows", "async_variables", "sync_variables"])
def test_sdk_csrf_handshake(sdk: dict, scenario: Scenario, key: str) -> None:
    csrf = part(sdk, key)["csrf"]
    if not scenario.secured:
        # The server answered 422 "CSRF protection is disabled." and the
        # client switched CSRF off for its lifetime.
        assert csrf["enabled"] is False
        assert csrf["token"] is None
        return
    assert csrf["enabled"] is True
    assert csrf["token"] and HEX64.match(csrf["token"]), csrf


def test_sdk_csrf_token_is_the_servers(sdk: dict, scenario: Scenario) -> None:
    """The token the SDK fetched is the one the server stored for its client id:
    a raw write with it succeeds, one with a wrong token is refused."""
    url = f"{scenario.server.api_url}/flows/"
    body = {"name": f"{sdk['prefix']}-raw-with-sdk-token"}
    if not scenario.secured:
        # CSRF off: a plain write needs no token at all.
        plain = httpx.post(url, json=body)
        assert plain.status_code in (200, 201), plain.text
        return
    csrf = part(sdk, "async_flows")["csrf"]
    headers = basic_auth(scenario.auth)
    good = httpx.post(url, json=body, headers={**headers, "Prefect-Csrf-Token": csrf["token"], "Prefect-Csrf-Client": csrf["client"]})
    assert good.status_code in (200, 201), good.text
    bad = httpx.post(url, json=body, headers={**headers, "Prefect-Csrf-Token": "0" * 64, "Prefect-Csrf-Client": csrf["client"]})
    assert bad.status_code == 403
    assert bad.json() == {"detail": "Invalid CSRF token or client identifier."}


@pytest.fixture(scope="module")
def denied(scenario: Scenario) -> dict:
    """The SDK with wrong and with missing credentials."""
    results = {}
    for label, auth in (("wrong", WRONG_AUTH), ("missing", None)):
        env, cwd = scenario.client(auth=auth)
        results[label] = run_script("sdk_denied.py", [unique_prefix()], env, cwd).result()
    return results


@pytest.mark.parametrize("label", ["wrong", "missing"])
@pytest.mark.parametrize("call", ["async_hello", "async_create_flow", "sync_read_flows", "variable_get"])
def test_sdk_credentials(denied: dict, scenario: Scenario, label: str, call: str) -> None:
    out = denied[label][call]
    if scenario.auth is None:
        # No auth string on the server: credentials are ignored.
        assert out["ok"] is True, out
        return
    assert out["ok"] is False, out
    assert out["status"] == 401, out
    assert out["prefect_http_status_error"] is True, out
    assert '"Unauthorized"' in out["body"], out


@pytest.mark.parametrize("label", ["wrong", "missing"])
def test_sdk_healthcheck_needs_no_credentials(denied: dict, label: str) -> None:
    assert denied[label]["async_healthcheck"] == {"ok": True, "value": None}
