"""Run a real @flow against Warden and read back what was recorded. Prints
RESULT {...}.

Usage: python flow_run.py <unique-flow-name>
"""

import json
import sys

from prefect import flow, get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName


def main(name: str) -> dict:
    @flow(name=name)
    def add_one(x: int) -> int:
        return x + 1

    state = add_one(41, return_state=True)
    out: dict = {"final_type": state.type.value, "result": state.result()}
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[name])))
        out["runs"] = [
            {
                "id": str(r.id),
                "state_type": r.state_type.value if r.state_type else None,
                "state_name": r.state_name,
                "run_count": r.run_count,
                "parameters": r.parameters,
                "has_start": r.start_time is not None,
                "has_end": r.end_time is not None,
                "total_run_time": r.total_run_time.total_seconds(),
            }
            for r in runs
        ]
        if runs:
            states = client.read_flow_run_states(runs[0].id)
            out["history"] = [s.type.value for s in states]
    return out


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(sys.argv[1])))
