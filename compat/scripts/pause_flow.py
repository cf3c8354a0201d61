"""Pause a real @flow against Warden and read back what was recorded. Prints
RESULT {...}.

Usage: python pause_flow.py timeout <flow-name>
       python pause_flow.py input <flow-name>

timeout: the flow calls pause_flow_run(timeout=2) and nobody resumes it.
input:   the flow calls pause_flow_run(wait_for_input=...); a second thread
         waits for the pause, tries to resume with invalid input, then
         resumes with valid input through resume_flow_run.
"""

import json
import sys
import threading
import time

from prefect import flow, get_client
from prefect.flow_runs import pause_flow_run, resume_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run as runtime_flow_run


class Approval(RunInput):
    approver: str
    level: int


def resumer(run_id, out: dict) -> None:
    """Waits until the run is paused with its input schema saved, then resumes."""
    deadline = time.monotonic() + 60
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            run = client.read_flow_run(run_id)
            if run.state and run.state.is_paused():
                keyset = run.state.state_details.run_input_keyset or {}
                if keyset.get("schema") and client.filter_flow_run_input(run_id, keyset["schema"], limit=1, exclude_keys=set()):
                    break
            time.sleep(0.2)
    try:
        resume_flow_run(run_id, run_input={"approver": "ada", "level": "high"})
    except RuntimeError as exc:
        out["invalid_resume_error"] = str(exc)
    resume_flow_run(run_id, run_input={"approver": "ada", "level": 3})


def main(mode: str, name: str) -> dict:
    out: dict = {}

    @flow(name=name)
    def paused() -> dict:
        if mode == "timeout":
            pause_flow_run(timeout=2, poll_interval=1)
            return {}
        t = threading.Thread(target=resumer, args=(runtime_flow_run.id, out), daemon=True)
        t.start()
        approval = pause_flow_run(wait_for_input=Approval, timeout=60, poll_interval=1)
        t.join(timeout=30)
        return {"approver": approval.approver, "level": approval.level}

    state = paused(return_state=True)
    out["final_type"] = state.type.value
    out["final_message"] = state.message
    if state.is_completed():
        out["result"] = state.result()
    with get_client(sync_client=True) as client:
        from prefect.client.schemas.filters import FlowFilter, FlowFilterName

        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[name])))
        out["run_ids"] = [str(r.id) for r in runs]
        if runs:
            out["history"] = [s.name for s in client.read_flow_run_states(runs[0].id)]
    return out


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(sys.argv[1], sys.argv[2])))
