"""Raw HTTP checks per configuration: auth, CSRF and CORS exactly as Prefect
behaves, and response bodies validated against Prefect's OpenAPI schema."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from harness import ApiSession, OpenAPI, basic_auth
from scenarios import ALLOWED_ORIGIN, OTHER_ORIGIN, WRONG_AUTH, Scenario

HEX64 = re.compile(r"^[0-9a-f]{64}$")
UNAUTHORIZED = {"exception_message": "Unauthorized"}


@pytest.fixture(scope="module")
def api(scenario: Scenario):
    session = ApiSession(scenario.server.api_url, scenario.auth, scenario.secured)
    yield session
    session.close()


def test_health_needs_no_credentials(scenario: Scenario, openapi: OpenAPI) -> None:
    resp = httpx.get(f"{scenario.server.api_url}/health")
    assert resp.status_code == 200
    assert openapi.validate("GET", "/health", resp) is True


@pytest.mark.parametrize("credentials", ["none", "wrong", "right"])
def test_hello_credentials(scenario: Scenario, openapi: OpenAPI, credentials: str) -> None:
    headers = {"none": {}, "wrong": basic_auth(WRONG_AUTH), "right": basic_auth(scenario.auth or "x:y")}[credentials]
    resp = httpx.get(f"{scenario.server.api_url}/hello", headers=headers)
    if scenario.auth is None or credentials == "right":
        assert resp.status_code == 200, resp.text
        assert openapi.validate("GET", "/hello", resp) == "👋"
        return
    assert resp.status_code == 401
    assert resp.json() == UNAUTHORIZED
    # No native browser login dialog.
    assert "www-authenticate" not in resp.headers


def test_flows_match_openapi(api: ApiSession, openapi: OpenAPI) -> None:
    name = f"raw-{uuid.uuid4().hex[:10]}"
    created = api.write("POST", "/flows/", json={"name": name, "tags": ["compat"]})
    assert created.status_code in (200, 201), created.text
    flow = openapi.validate("POST", "/flows/", created)
    assert flow["name"] == name and flow["tags"] == ["compat"]

    by_id = api.get(f"/flows/{flow['id']}")
    assert by_id.status_code == 200
    assert openapi.validate("GET", "/flows/{id}", by_id)["id"] == flow["id"]

    by_name = api.get(f"/flows/name/{name}")
    assert by_name.status_code == 200
    assert openapi.validate("GET", "/flows/name/{name}", by_name)["id"] == flow["id"]

    listed = api.write("POST", "/flows/filter", json={"flows": {"name": {"any_": [name]}}})
    assert listed.status_code == 200, listed.text
    assert [f["id"] for f in openapi.validate("POST", "/flows/filter", listed)] == [flow["id"]]


def test_variables_match_openapi(api: ApiSession, openapi: OpenAPI) -> None:
    name = f"raw_{uuid.uuid4().hex[:10]}"
    created = api.write("POST", "/variables/", json={"name": name, "value": {"a": [1, 2]}, "tags": ["compat"]})
    assert created.status_code == 201, created.text
    variable = openapi.validate("POST", "/variables/", created)
    assert variable["name"] == name and variable["value"] == {"a": [1, 2]}

    duplicate = api.write("POST", "/variables/", json={"name": name, "value": 1})
    assert duplicate.status_code == 409, duplicate.text

    by_name = api.get(f"/variables/name/{name}")
    assert by_name.status_code == 200
    assert openapi.validate("GET", "/variables/name/{name}", by_name)["id"] == variable["id"]

    by_id = api.get(f"/variables/{variable['id']}")
    assert by_id.status_code == 200
    assert openapi.validate("GET", "/variables/{id}", by_id)["name"] == name

    patched = api.write("PATCH", f"/variables/name/{name}", json={"value": "new"})
    assert patched.status_code == 204, patched.text
    assert api.get(f"/variables/name/{name}").json()["value"] == "new"

    listed = api.write("POST", "/variables/filter", json={"variables": {"name": {"any_": [name]}}})
    assert listed.status_code == 200, listed.text
    assert [v["value"] for v in openapi.validate("POST", "/variables/filter", listed)] == ["new"]

    deleted = api.write("DELETE", f"/variables/name/{name}")
    assert deleted.status_code == 204, deleted.text
    assert api.get(f"/variables/name/{name}").status_code == 404


def test_csrf_token_endpoint(scenario: Scenario, openapi: OpenAPI) -> None:
    url = f"{scenario.server.api_url}/csrf-token"
    if not scenario.secured:
        resp = httpx.get(url, params={"client": "x"})
        # Exactly what makes Prefect clients turn their CSRF support off.
        assert resp.status_code == 422
        assert resp.json() == {"detail": "CSRF protection is disabled."}
        return
    assert httpx.get(url, params={"client": "x"}).status_code == 401
    resp = httpx.get(url, params={"client": "x"}, headers=basic_auth(scenario.auth))
    assert resp.status_code == 200, resp.text
    token = openapi.validate("GET", "/csrf-token", resp)
    assert token["client"] == "x"
    assert HEX64.match(token["token"])


def test_write_without_csrf_headers(scenario: Scenario) -> None:
    headers = basic_auth(scenario.auth) if scenario.auth else {}
    resp = httpx.post(f"{scenario.server.api_url}/flows/", json={"name": f"nocsrf-{uuid.uuid4().hex[:8]}"}, headers=headers)
    if not scenario.secured:
        assert resp.status_code in (200, 201), resp.text
        return
    assert resp.status_code == 403
    assert resp.json() == {"detail": "Missing CSRF token."}


def preflight(scenario: Scenario, origin: str) -> httpx.Response:
    return httpx.options(
        f"{scenario.server.api_url}/flows/filter",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, prefect-csrf-token, prefect-csrf-client",
        },
    )


def test_cors_preflight_allowed_origin(scenario: Scenario) -> None:
    resp = preflight(scenario, ALLOWED_ORIGIN)
    assert resp.status_code == 200, resp.text
    expected = ALLOWED_ORIGIN if scenario.secured else "*"
    assert resp.headers.get("access-control-allow-origin") == expected
    assert "POST" in resp.headers.get("access-control-allow-methods", "")


def test_cors_preflight_other_origin(scenario: Scenario) -> None:
    resp = preflight(scenario, OTHER_ORIGIN)
    if not scenario.secured:
        # Prefect's default is "*": every origin passes.
        assert resp.status_code == 200
        assert resp.headers.get("access-control-allow-origin") == "*"
        return
    assert resp.status_code == 400
    assert "access-control-allow-origin" not in resp.headers or resp.headers["access-control-allow-origin"] != OTHER_ORIGIN
    assert "Disallowed CORS origin" in resp.text
