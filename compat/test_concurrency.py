"""Concurrency limits v2 with the real SDK (prefect.concurrency.sync), once
per configuration (see scenarios.py): slots are taken and given back through
leases, rate limits wait for decay, and two processes contending for a limit
of 1 never hold it at the same time."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from harness import CLIENT_TIMEOUT, PYTHON, SCRIPTS_DIR, ClientRun, run_script
from scenarios import Scenario


@pytest.fixture(scope="module")
def sdk(scenario: Scenario) -> dict:
    env, cwd = scenario.client()
    return run_script("concurrency_sdk.py", ["c" + uuid.uuid4().hex[:12]], env, cwd).result()


def test_concurrency_context_takes_and_releases_a_slot(sdk: dict) -> None:
    assert (sdk["before"], sdk["inside"], sdk["after"]) == (0, 1, 0)


def test_rate_limit_waits_for_decay(sdk: dict) -> None:
    first, second, third = sdk["rate_stamps"]
    # Limit 1 draining 2 slots/s: the first call passes at once (plus client
    # start-up), each later one waits for the previous slot to decay (0.5 s,
    # give or take the jitter of Retry-After).
    assert first < 3
    assert second - first >= 0.3
    assert third - second >= 0.3


def test_rate_limit_needs_decay(sdk: dict) -> None:
    assert sdk["rate_on_plain"].startswith("ConcurrencySlotAcquisitionError")
    assert "do not have a decay configured" in sdk["rate_on_plain"]


def test_missing_limits(sdk: dict) -> None:
    assert sdk["missing_non_strict"] == "entered"
    assert sdk["missing_strict"] == "ConcurrencySlotAcquisitionError"


def test_two_processes_are_serialised(scenario: Scenario) -> None:
    name = "c" + uuid.uuid4().hex[:12] + "-mutex"
    env, cwd = scenario.client()
    setup = (
        "import sys\n"
        "from prefect import get_client\n"
        "from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate\n"
        "with get_client(sync_client=True) as c:\n"
        "    c.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=sys.argv[1], limit=1))\n"
    )
    created = subprocess.run([PYTHON, "-c", setup, name], cwd=cwd, env=env, capture_output=True, text=True, timeout=CLIENT_TIMEOUT)
    assert created.returncode == 0, created.stderr
    procs = []
    for _ in range(2):
        penv, pcwd = scenario.client()
        procs.append(subprocess.Popen(
            [PYTHON, str(SCRIPTS_DIR / "concurrency_hold.py"), name, "1.5"],
            cwd=pcwd, env=penv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    held = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=CLIENT_TIMEOUT)
        run = ClientRun(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), "concurrency_hold.py")
        held.append(run.result())
    a, b = sorted(held, key=lambda h: h["start"])
    assert a["end"] <= b["start"], f"overlapping slot holders: {held}"
