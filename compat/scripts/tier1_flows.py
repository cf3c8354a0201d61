"""Run real Prefect flows (the issue-3 acceptance cases) against a server and
print, per case, what the SDK saw as one JSON line (RESULT {...}). The tests
read everything else back through the API themselves.

Each case runs on its own and records its traceback instead of stopping the
script, so one broken case fails only its own tests.

Usage: python tier1_flows.py <unique-prefix> <case> [<case> ...]
"""

import asyncio
import json
import sys
import time
import traceback

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.flow_runs import pause_flow_run
from prefect.variables import Variable


def outcome(state) -> dict:
    """What a caller sees of a finished flow run: its result only when it
    completed, so a wrong final state is reported, not raised."""
    out = {
        "flow_run_id": str(state.state_details.flow_run_id),
        "type": state.type.value,
        "name": state.name,
        "message": state.message,
    }
    if state.is_completed():
        out["result"] = state.result()
    return out


@task
def add(x: int, y: int) -> int:
    return x + y


def case_sequential(prefix: str) -> dict:
    @flow(name=f"{prefix}-sequential")
    def sequential() -> int:
        a = add(1, 2)
        b = add(a, 3)
        return add(b, 4)

    state = sequential(return_state=True)
    return outcome(state)


def case_submit(prefix: str) -> dict:
    @task
    def double(x: int) -> int:
        return 2 * x

    @flow(name=f"{prefix}-submit")
    def submitted() -> list[int]:
        futures = [double.submit(i) for i in range(3)]
        return [f.result() for f in futures]

    state = submitted(return_state=True)
    return outcome(state)


def case_map(prefix: str) -> dict:
    @task(task_run_name="square-{x}")
    def square(x: int) -> int:
        return x * x

    @flow(name=f"{prefix}-map")
    def mapped() -> list[int]:
        return square.map([1, 2, 3, 4]).result()

    state = mapped(return_state=True)
    return outcome(state)


def case_async(prefix: str) -> dict:
    @task
    async def slow_inc(x: int) -> int:
        await asyncio.sleep(0.05)
        return x + 1

    @flow(name=f"{prefix}-async")
    async def gathered() -> list[int]:
        return list(await asyncio.gather(*(slow_inc(i) for i in range(3))))

    state = asyncio.run(gathered(return_state=True))
    return outcome(state)


def case_task_retries(prefix: str) -> dict:
    attempts = []

    # A delay makes the engine wait in AwaitingRetry (without one it goes
    # straight to Retrying).
    @task(retries=2, retry_delay_seconds=0.2)
    def flaky() -> str:
        attempts.append(time.time())
        if len(attempts) < 3:
            raise RuntimeError(f"attempt {len(attempts)} fails")
        return "third time lucky"

    @flow(name=f"{prefix}-task-retries")
    def retrying() -> str:
        return flaky()

    state = retrying(return_state=True)
    return {**outcome(state), "attempts": len(attempts)}


def case_flow_retries(prefix: str) -> dict:
    attempts = []

    @flow(name=f"{prefix}-flow-retries", retries=1, retry_delay_seconds=0)
    def retried() -> int:
        attempts.append(time.time())
        if len(attempts) == 1:
            raise RuntimeError("first flow attempt fails")
        return add(20, 22)

    state = retried(return_state=True)
    return {**outcome(state), "attempts": len(attempts)}


def case_subflow(prefix: str) -> dict:
    @flow(name=f"{prefix}-child")
    def child(x: int) -> int:
        return add(x, 1)

    @flow(name=f"{prefix}-parent")
    def parent() -> int:
        return child(1) + child(10)

    state = parent(return_state=True)
    return outcome(state)


def case_failing(prefix: str) -> dict:
    @flow(name=f"{prefix}-failing")
    def failing() -> None:
        raise ValueError(f"boom-{prefix}")

    return outcome(failing(return_state=True))


def case_caching(prefix: str) -> dict:
    calls = []

    @task(cache_key_fn=lambda *_: f"{prefix}-cache-key", persist_result=True)
    def expensive(x: int) -> int:
        calls.append(x)
        return x * 10

    @flow(name=f"{prefix}-caching")
    def cached(x: int) -> int:
        return expensive(x)

    first = cached(7, return_state=True)
    second = cached(7, return_state=True)
    return {
        "first": outcome(first),
        "second": outcome(second),
        "calls": len(calls),
    }


def case_logs(prefix: str) -> dict:
    @task(log_prints=True)
    def chatty() -> None:
        print(f"task-print-{prefix}")
        get_run_logger().warning(f"task-logger-{prefix}")

    @flow(name=f"{prefix}-logs", log_prints=True)
    def logging_flow() -> None:
        get_run_logger().info(f"flow-logger-{prefix}")
        print(f"flow-print-{prefix}")
        chatty()

    return outcome(logging_flow(return_state=True))


def case_artifacts(prefix: str) -> dict:
    @flow(name=f"{prefix}-artifacts")
    def reporting() -> dict:
        ids = {}
        ids["markdown_v1"] = str(create_markdown_artifact(markdown="# first", key=f"{prefix}-md", description="v1"))
        ids["markdown_v2"] = str(create_markdown_artifact(markdown="# second", key=f"{prefix}-md", description="v2"))
        ids["table"] = str(create_table_artifact(table=[{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], key=f"{prefix}-table"))
        progress = create_progress_artifact(progress=0.0, key=f"{prefix}-progress")
        update_progress_artifact(progress, progress=100.0)
        ids["progress"] = str(progress)
        return ids

    state = reporting(return_state=True)
    return outcome(state)


def case_variables(prefix: str) -> dict:
    name = f"{prefix}-var"

    @flow(name=f"{prefix}-variables")
    def variables() -> dict:
        missing = Variable.get(name, default="fallback")
        Variable.set(name, {"answer": 41})
        first = Variable.get(name)
        Variable.set(name, {"answer": 42}, overwrite=True)
        return {"missing": missing, "first": first, "second": Variable.get(name)}

    state = variables(return_state=True)
    return outcome(state)


def case_concurrency(prefix: str) -> dict:
    # The test creates the v2 limit "tag:serial" (limit 1) beforehand.
    @task(tags=["serial"])
    def hold(i: int) -> float:
        time.sleep(1.0)
        return time.time()

    @flow(name=f"{prefix}-concurrency")
    def contended() -> list[float]:
        futures = [hold.submit(i) for i in range(2)]
        return [f.result() for f in futures]

    state = contended(return_state=True)
    return outcome(state)


def case_pause(prefix: str) -> dict:
    @flow(name=f"{prefix}-pause")
    def pausing() -> str:
        pause_flow_run(timeout=2, poll_interval=1)
        return "resumed"

    started = time.time()
    state = pausing(return_state=True)
    return {**outcome(state), "elapsed": time.time() - started}


def case_thousand(prefix: str) -> dict:
    @task
    def unit(i: int) -> int:
        return i

    @flow(name=f"{prefix}-thousand")
    def many() -> int:
        return sum(unit(i) for i in range(1000))

    state = many(return_state=True)
    return outcome(state)


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}


def main(prefix: str, cases: list[str]) -> dict:
    out = {}
    for name in cases:
        try:
            out[name] = CASES[name](prefix)
        except BaseException:  # noqa: BLE001 - reported to the test, which fails on it
            out[name] = {"error": traceback.format_exc()}
    return out


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(sys.argv[1], sys.argv[2:]), default=str))
