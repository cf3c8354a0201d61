"""Drive a server through the real Prefect SDK, async and sync, and print what
was observed as one JSON line (RESULT {...}) for the tests to judge.

Each part runs on its own and records its traceback instead of stopping the
script, so one broken endpoint fails only the tests that depend on it.

Usage: python sdk_roundtrip.py <unique-prefix>
"""

import asyncio
import json
import sys
import traceback

from prefect import get_client
from prefect.client.schemas.actions import VariableCreate, VariableUpdate
from prefect.client.schemas.filters import FlowFilter, FlowFilterName
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.variables import Variable


def csrf_state(client) -> dict:
    http = client._client  # the SDK's PrefectHttpx(Async)Client
    return {
        "enabled": http.enable_csrf_support,
        "token": http.csrf_token,
        "client": str(http.csrf_client_id),
    }


def variable_view(variable) -> dict | None:
    if variable is None:
        return None
    return {"id": str(variable.id), "name": variable.name, "value": variable.value, "tags": variable.tags}


def flows_part(client_flows: list) -> list[dict]:
    return [{"id": str(f.id), "name": f.name} for f in client_flows]


async def async_connect(out: dict) -> None:
    client = get_client()
    out["api_url"] = str(client.api_url)
    async with client:
        error = await client.api_healthcheck()
        out["healthcheck_error"] = None if error is None else repr(error)
        hello = await client.hello()
        out["hello"] = {"status": hello.status_code, "json": hello.json()}
        out["api_version"] = await client.api_version()
        await client.raise_for_api_version_mismatch()


async def async_flows(out: dict, prefix: str) -> None:
    name = f"{prefix}-async-flow"
    async with get_client() as client:
        flow_id = await client.create_flow_from_name(name)
        out["created_id"] = str(flow_id)
        out["created_again_id"] = str(await client.create_flow_from_name(name))
        flow = await client.read_flow(flow_id)
        out["read_flow"] = {"id": str(flow.id), "name": flow.name}
        by_name = await client.read_flow_by_name(name)
        out["read_flow_by_name"] = {"id": str(by_name.id), "name": by_name.name}
        out["read_flows_filtered"] = flows_part(
            await client.read_flows(flow_filter=FlowFilter(name=FlowFilterName(any_=[name])))
        )
        out["read_flows_all"] = flows_part(await client.read_flows())
        out["csrf"] = csrf_state(client)


async def async_variables(out: dict, prefix: str) -> None:
    name = f"{prefix}_async_var"
    async with get_client() as client:
        created = await client.create_variable(
            VariableCreate(name=name, value={"answer": 42, "list": [1, "two"]}, tags=["compat"])
        )
        out["created"] = variable_view(created)
        try:
            await client.create_variable(VariableCreate(name=name, value="duplicate"))
            out["duplicate_status"] = None
        except ObjectAlreadyExists as exc:
            out["duplicate_status"] = exc.http_exc.response.status_code
        out["read"] = variable_view(await client.read_variable_by_name(name))
        await client.update_variable(VariableUpdate(name=name, value="updated", tags=["compat", "updated"]))
        out["read_after_update"] = variable_view(await client.read_variable_by_name(name))
        await client.delete_variable_by_name(name)
        out["read_after_delete"] = variable_view(await client.read_variable_by_name(name))
        try:
            await client.delete_variable_by_name(name)
            out["delete_missing_status"] = None
        except ObjectNotFound as exc:
            out["delete_missing_status"] = exc.http_exc.response.status_code
        out["csrf"] = csrf_state(client)


def sync_connect(out: dict) -> None:
    with get_client(sync_client=True) as client:
        out["api_url"] = str(client.api_url)
        error = client.api_healthcheck()
        out["healthcheck_error"] = None if error is None else repr(error)
        hello = client.hello()
        out["hello"] = {"status": hello.status_code, "json": hello.json()}
        out["api_version"] = client.api_version()
        client.raise_for_api_version_mismatch()


def sync_flows(out: dict, prefix: str) -> None:
    name = f"{prefix}-sync-flow"
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name(name)
        out["created_id"] = str(flow_id)
        out["created_again_id"] = str(client.create_flow_from_name(name))
        flow = client.read_flow(flow_id)
        out["read_flow"] = {"id": str(flow.id), "name": flow.name}
        by_name = client.read_flow_by_name(name)
        out["read_flow_by_name"] = {"id": str(by_name.id), "name": by_name.name}
        out["read_flows_filtered"] = flows_part(
            client.read_flows(flow_filter=FlowFilter(name=FlowFilterName(any_=[name])))
        )
        out["read_flows_all"] = flows_part(client.read_flows())
        out["csrf"] = csrf_state(client)


def sync_variables(out: dict, prefix: str) -> None:
    name = f"{prefix}_sync_var"
    with get_client(sync_client=True) as client:
        out["created"] = variable_view(client.create_variable(VariableCreate(name=name, value=7, tags=["compat"])))
        try:
            client.create_variable(VariableCreate(name=name, value=8))
            out["duplicate_status"] = None
        except ObjectAlreadyExists as exc:
            out["duplicate_status"] = exc.http_exc.response.status_code
        out["read"] = variable_view(client.read_variable_by_name(name))
        client.update_variable(VariableUpdate(name=name, value=[1, 2, 3]))
        out["read_after_update"] = variable_view(client.read_variable_by_name(name))
        client.delete_variable_by_name(name)
        out["read_after_delete"] = variable_view(client.read_variable_by_name(name))
        try:
            client.delete_variable_by_name(name)
            out["delete_missing_status"] = None
        except ObjectNotFound as exc:
            out["delete_missing_status"] = exc.http_exc.response.status_code
        out["csrf"] = csrf_state(client)


def variable_class(out: dict, prefix: str) -> None:
    name = f"{prefix}_class_var"
    Variable.set(name, {"k": "v"}, tags=["compat"])
    out["get"] = Variable.get(name)
    try:
        Variable.set(name, "again")
        out["set_existing_error"] = None
    except ValueError as exc:
        out["set_existing_error"] = str(exc)
    Variable.set(name, "overwritten", overwrite=True)
    out["get_after_overwrite"] = Variable.get(name)
    out["unset"] = Variable.unset(name)
    out["get_after_unset"] = Variable.get(name, default="gone")
    out["unset_again"] = Variable.unset(name)


def run_part(results: dict, key: str, fn, *args) -> None:
    out: dict = {}
    try:
        result = fn(out, *args)
        if asyncio.iscoroutine(result):
            asyncio.run(result)
    except BaseException:  # noqa: BLE001 - report everything, including SystemExit from the SDK
        out["error"] = traceback.format_exc()
    results[key] = out


def main() -> None:
    prefix = sys.argv[1]
    results: dict = {}
    run_part(results, "async_connect", async_connect)
    run_part(results, "async_flows", async_flows, prefix)
    run_part(results, "async_variables", async_variables, prefix)
    run_part(results, "sync_connect", sync_connect)
    run_part(results, "sync_flows", sync_flows, prefix)
    run_part(results, "sync_variables", sync_variables, prefix)
    run_part(results, "variable_class", variable_class, prefix)
    print("RESULT " + json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
