"""Flows the deployment tests deploy from a local directory. The worker's
child process imports this file by its entrypoint, as it would a user's."""

import time

from prefect import flow, get_run_logger
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput


@flow
def hello(name: str = "world") -> str:
    get_run_logger().info("hello %s", name)
    return f"hello {name}"


@flow
def sleeper(seconds: float = 300) -> float:
    time.sleep(seconds)
    return seconds


class Approval(RunInput):
    approver: str


@flow
def approval() -> str:
    got = pause_flow_run(wait_for_input=Approval, timeout=120, poll_interval=1)
    return got.approver
