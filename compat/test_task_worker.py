"""Background tasks with the real SDK, once per storage engine (auth and CSRF
on): `task.delay()` in one process, `prefect.task_worker.serve` in another,
talking through /task_runs/subscriptions/scheduled. Delayed runs are
executed and their results read back with future.result(); runs delayed
before any worker exists are picked up when one subscribes; two workers on
the same task share the runs, each executed exactly once; /task_workers/filter
lists the connected workers.

The scripts are written next to each test: the task module must be one file
imported by both processes, so that both compute the same task key."""

from __future__ import annotations

import json
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from harness import CLIENT_TIMEOUT, PYTHON, ApiSession, ClientRun
from scenarios import Scenario

TASKS = '''
import os
from pathlib import Path

from prefect import task
from prefect.runtime import task_run

MARKS = Path(os.environ["TASK_MARKS"])


def mark() -> None:
    """One file per execution: a second execution of a run fails here."""
    with open(MARKS / str(task_run.id), "x") as f:
        f.write(str(os.getpid()))


@task
def add(a: int, b: int) -> int:
    mark()
    return a + b


@task
def shout(word: str) -> str:
    mark()
    return word.upper() + "!"


@task
def square(x: int) -> int:
    mark()
    return x * x
'''

WORKER = '''
import sys

from prefect.task_worker import serve

import bg_tasks

serve(*[getattr(bg_tasks, name) for name in sys.argv[1:]], limit=4)
'''

# delay <task> <json list of argument lists>: print the run ids; with
# --wait, also wait for the results (future.result()).
# wait <json list of run ids>: poll the runs until they are final and read
# their results. (A PrefectDistributedFuture rebuilt from an id in a fresh
# process missed its wake-up in prefect 3.9.1 even though its TaskRunWaiter
# logged the Completed event, so this waits through the API instead.)
PRODUCER = '''
import json
import sys
import time
from uuid import UUID

from prefect import get_client

import bg_tasks

cmd = sys.argv[1]
if cmd == "delay":
    fn = getattr(bg_tasks, sys.argv[2])
    futures = [fn.delay(*args) for args in json.loads(sys.argv[3])]
    out = {"ids": [str(f.task_run_id) for f in futures]}
    if "--wait" in sys.argv:
        out["results"] = [f.result(timeout=90) for f in futures]
elif cmd == "wait":
    results = []
    with get_client(sync_client=True) as client:
        for run_id in json.loads(sys.argv[2]):
            deadline = time.monotonic() + 90
            while True:
                state = client.read_task_run(UUID(run_id)).state
                if state is not None and state.is_final():
                    break
                assert time.monotonic() < deadline, f"{run_id} still {state}"
                time.sleep(0.2)
            results.append(state.result())
    out = {"results": results}
print("RESULT " + json.dumps(out))
'''


class Lab:
    """A shared directory holding the task module, the result storage and
    the execution marks, and the processes started from it."""

    def __init__(self, engine: Scenario, root: Path) -> None:
        self.engine = engine
        self.root = root
        self.code = root / "code"
        self.storage = root / "storage"
        self.marks = root / "marks"
        for d in (self.code, self.storage, self.marks):
            d.mkdir(parents=True)
        (self.code / "bg_tasks.py").write_text(textwrap.dedent(TASKS))
        (self.code / "worker.py").write_text(textwrap.dedent(WORKER))
        (self.code / "producer.py").write_text(textwrap.dedent(PRODUCER))
        self.workers: list[subprocess.Popen] = []

    def env(self) -> tuple[dict[str, str], Path]:
        env, cwd = self.engine.client()
        env.update({
            "PYTHONPATH": str(self.code),
            "TASK_MARKS": str(self.marks),
            # Parameters and results travel through the file system: both
            # processes must use the same one.
            "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(self.storage),
        })
        return env, cwd

    def produce(self, *args: str) -> dict:
        env, cwd = self.env()
        try:
            proc = subprocess.run([PYTHON, str(self.code / "producer.py"), *args], cwd=cwd, env=env,
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=CLIENT_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"producer.py {' '.join(args)} timed out\n{exc.stderr}\n{self.worker_logs()}") from None
        return ClientRun(proc, f"producer.py {' '.join(args)}").result()

    def start_worker(self, *tasks: str) -> subprocess.Popen:
        env, cwd = self.env()
        log = open(self.root / f"worker-{len(self.workers)}.log", "w")
        proc = subprocess.Popen([PYTHON, str(self.code / "worker.py"), *tasks], cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, text=True)
        log.close()
        self.workers.append(proc)
        return proc

    def worker_logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.read_text()[-4000:]}" for p in sorted(self.root.glob("worker-*.log")))

    def stop_workers(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.workers.clear()

    def marks_of(self, ids: list[str]) -> dict[str, str]:
        return {i: (self.marks / i).read_text() for i in ids if (self.marks / i).exists()}


@pytest.fixture
def lab(engine: Scenario, tmp_path: Path):
    lab = Lab(engine, tmp_path / "lab")
    yield lab
    lab.stop_workers()


@pytest.fixture
def api(engine: Scenario):
    session = ApiSession(engine.server.api_url, engine.auth, csrf=True)
    yield session
    session.close()


def task_workers(api: ApiSession, keys: list[str] | None = None) -> list[dict]:
    body = {"task_worker_filter": {"task_keys": keys}} if keys is not None else None
    resp = api.write("POST", "/task_workers/filter", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def wait_for_workers(api: ApiSession, lab: Lab, count: int) -> list[dict]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        workers = task_workers(api)
        if len(workers) >= count:
            return workers
        for proc in lab.workers:
            assert proc.poll() is None, f"task worker exited {proc.returncode}\n{lab.worker_logs()}"
        time.sleep(0.2)
    raise AssertionError(f"{count} task worker(s) never subscribed\n{lab.worker_logs()}")


def task_run(api: ApiSession, run_id: str) -> dict:
    resp = api.get(f"/task_runs/{run_id}")
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_delayed_tasks_run_on_a_task_worker(lab: Lab, api: ApiSession) -> None:
    lab.start_worker("add", "shout")
    workers = wait_for_workers(api, lab, 1)
    assert len(workers[0]["task_keys"]) == 2
    add_key = next(k for k in workers[0]["task_keys"] if k.startswith("add-"))
    assert [w["identifier"] for w in task_workers(api, [add_key])] == [workers[0]["identifier"]]
    assert task_workers(api, ["no-such-task"]) == []

    out = lab.produce("delay", "add", json.dumps([[i, 10] for i in range(5)]), "--wait")
    assert out["results"] == [10, 11, 12, 13, 14], lab.worker_logs()
    out2 = lab.produce("delay", "shout", json.dumps([["hello"]]), "--wait")
    assert out2["results"] == ["HELLO!"]
    for run_id in out["ids"] + out2["ids"]:
        run = task_run(api, run_id)
        assert run["state"]["type"] == "COMPLETED", run
        assert run["flow_run_id"] is None
    assert set(lab.marks_of(out["ids"] + out2["ids"])) == set(out["ids"] + out2["ids"])

    lab.stop_workers()
    deadline = time.monotonic() + 30
    while task_workers(api) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert task_workers(api) == [], "a stopped task worker is no longer listed"


def test_runs_delayed_before_a_worker_are_picked_up(lab: Lab, api: ApiSession) -> None:
    out = lab.produce("delay", "square", json.dumps([[i] for i in range(4)]))
    for run_id in out["ids"]:
        assert task_run(api, run_id)["state"]["type"] == "SCHEDULED"
    lab.start_worker("square")
    done = lab.produce("wait", json.dumps(out["ids"]))
    assert done["results"] == [0, 1, 4, 9], lab.worker_logs()


def test_two_workers_execute_each_run_once(lab: Lab, api: ApiSession) -> None:
    lab.start_worker("add")
    lab.start_worker("add")
    wait_for_workers(api, lab, 2)
    n = 12
    out = lab.produce("delay", "add", json.dumps([[i, i] for i in range(n)]), "--wait")
    assert out["results"] == [2 * i for i in range(n)], lab.worker_logs()
    marks = lab.marks_of(out["ids"])
    # Each mark file is created exclusively: a run executed twice would have
    # failed its second execution (and its result would be missing).
    assert set(marks) == set(out["ids"])
    pids = {p.pid for p in lab.workers}
    assert {int(pid) for pid in marks.values()} <= pids, "executed by the task workers"
    for run_id in out["ids"]:
        assert task_run(api, run_id)["state"]["type"] == "COMPLETED"
