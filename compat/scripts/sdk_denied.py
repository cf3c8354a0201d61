"""Call the server through the real SDK with whatever credentials the
environment / prefect.toml provide, and record how each call ended. Used with
wrong and missing credentials; prints RESULT {...}.

Usage: python sdk_denied.py <unique-prefix>
"""

import asyncio
import json
import sys

import httpx

from prefect import get_client
from prefect.exceptions import PrefectHTTPStatusError
from prefect.variables import Variable


def outcome(fn) -> dict:
    try:
        value = fn()
        if asyncio.iscoroutine(value):
            value = asyncio.run(value)
        return {"ok": True, "value": value if isinstance(value, (str, int, bool, type(None))) else repr(value)}
    except Exception as exc:  # noqa: BLE001 - the exception is the observation
        http_exc = exc if isinstance(exc, httpx.HTTPStatusError) else exc.__cause__
        status = http_exc.response.status_code if isinstance(http_exc, httpx.HTTPStatusError) else None
        body = http_exc.response.text if isinstance(http_exc, httpx.HTTPStatusError) else None
        return {
            "ok": False,
            "type": type(exc).__name__,
            "prefect_http_status_error": isinstance(exc, PrefectHTTPStatusError),
            "status": status,
            "body": body,
            "message": str(exc)[:500],
        }


async def async_hello():
    async with get_client() as client:
        return (await client.hello()).json()


async def async_healthcheck():
    async with get_client() as client:
        error = await client.api_healthcheck()
        return None if error is None else repr(error)


async def async_create_flow(prefix: str):
    async with get_client() as client:
        return str(await client.create_flow_from_name(f"{prefix}-denied-flow"))


def sync_read_flows():
    with get_client(sync_client=True) as client:
        return len(client.read_flows())


def main() -> None:
    prefix = sys.argv[1]
    results = {
        "async_hello": outcome(async_hello),
        "async_healthcheck": outcome(async_healthcheck),
        "async_create_flow": outcome(lambda: async_create_flow(prefix)),
        "sync_read_flows": outcome(sync_read_flows),
        "variable_get": outcome(lambda: Variable.get(f"{prefix}_missing_var", default="default")),
    }
    print("RESULT " + json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
