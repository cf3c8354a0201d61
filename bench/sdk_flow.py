"""A flow with N tasks run by the real Prefect SDK against PREFECT_API_URL.

Prints one line: RESULT {"flow_run_id": ..., "wall": seconds} where wall is
the flow call alone (interpreter start and imports excluded). Used by the
Go harness (bench/sdk.go), which then waits until the server has recorded
every task run.
"""

import json
import sys
import time

from prefect import flow, task


@task
def add(x: int) -> int:
    return x + 1


@flow(name="bench-sdk")
def many(n: int) -> int:
    total = 0
    for i in range(n):
        total += add(i)
    return total


if __name__ == "__main__":
    n = int(sys.argv[1])
    began = time.perf_counter()
    state = many(n, return_state=True)
    wall = time.perf_counter() - began
    assert state.is_completed(), state
    print("RESULT " + json.dumps({"flow_run_id": str(state.state_details.flow_run_id), "wall": wall}), flush=True)
