"""Run a flow with tasks against Warden. Prints RESULT {...}.

Usage: python tasks_flow.py <prefix> mixed

mixed: three sequential task calls, a .submit(), a .map() over three items
and an async task, in an async flow.
"""

import asyncio
import json
import sys

from prefect import flow, task
from prefect.context import get_run_context


def mixed(prefix: str) -> dict:
    @task(name=f"{prefix}-step")
    def step(x: int) -> int:
        return x + 1

    @task(name=f"{prefix}-square")
    def square(x: int) -> int:
        return x * x

    @task(name=f"{prefix}-scale")
    async def scale(x: int) -> int:
        await asyncio.sleep(0)
        return x * 10

    @flow(name=f"{prefix}-mixed")
    async def run() -> dict:
        a = step(0)
        b = step(a)
        c = step(b)
        submitted = square.submit(c)
        mapped = square.map([1, 2, 3])
        scaled = await scale(submitted.result())
        return {"flow_run_id": str(get_run_context().flow_run.id),
                "value": [a, b, c, submitted.result(), [m.result() for m in mapped], scaled]}

    state = asyncio.run(run(return_state=True))
    return {"type": state.type.value, **state.result()}


if __name__ == "__main__":
    prefix, case = sys.argv[1], sys.argv[2]
    print("RESULT " + json.dumps({"mixed": mixed}[case](prefix)))
