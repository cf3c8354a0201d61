"""Issue 4 acceptance with the real Prefect CLI, SDK, runner and process
worker, on each storage engine with auth and CSRF on:

- flow.serve() with an interval schedule runs the flow at least twice;
- `prefect work-pool create --type process`, `prefect deploy`, and
  `prefect worker start` picks up and completes a run created by
  `prefect deployment run`;
- cancelling a running deployment run stops its process and ends Cancelled;
- a paused deployment run resumes with input;
- a run nobody picks up becomes Late;
- a deployment concurrency limit of 1 enqueues the second run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from harness import PYTHON, SCRIPTS_DIR, ApiSession, OpenAPI, run_prefect_cli, run_script
from scenarios import Scenario

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}


class Background:
    """A long-running client process (worker, runner) with its output in a file."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, label: str) -> None:
        self.log = cwd / f"{label}.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


def wait_for(what: str, check, timeout: float, explain=lambda: "") -> object:
    """Polls check() until it returns something truthy; the server gives no
    push signal a test process could await for these state changes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{explain()}")


class Project:
    """A local project directory with deployments on a process work pool."""

    def __init__(self, engine: Scenario) -> None:
        self.engine = engine
        self.env, self.cwd = engine.client()
        shutil.copy(SCRIPTS_DIR / "project" / "deploy_flows.py", self.cwd / "deploy_flows.py")
        self.api = ApiSession(engine.server.api_url, engine.auth, csrf=engine.secured)
        suffix = uuid.uuid4().hex[:8]
        self.pool = f"proc-{suffix}"
        self.idle_pool = f"idle-{suffix}"
        self.worker: Background | None = None

    def cli(self, *args: str) -> str:
        run = run_prefect_cli(list(args), self.env, self.cwd)
        assert run.proc.returncode == 0, run.describe()
        return run.proc.stdout

    def deploy_from_source(self, entrypoint: str, name: str, pool: str, **kwargs) -> str:
        """flow.from_source(<local dir>).deploy(...); returns the deployment id."""
        script = self.cwd / f"deploy_{name}.py"
        script.write_text(
            "import sys\nfrom prefect import flow\n"
            f"d = flow.from_source(source={str(self.cwd)!r}, entrypoint={entrypoint!r}).deploy("
            f"name={name!r}, work_pool_name={pool!r}, build=False, print_next_steps=False, **{kwargs!r})\n"
            "print('RESULT', '{\"id\": \"%s\"}' % d)\n"
        )
        proc = subprocess.run([PYTHON, str(script)], cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
        return line.split('"id": "')[1].split('"')[0]

    def start_worker(self) -> None:
        env = {**self.env, "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_HEARTBEAT_SECONDS": "5"}
        self.worker = Background([PYTHON, "-m", "prefect", "worker", "start", "--pool", self.pool, "--type", "process"],
                                 env, self.cwd, "worker")

    def flow_run(self, run_id: str) -> dict:
        resp = self.api.get(f"/flow_runs/{run_id}")
        assert resp.status_code == 200, resp.text
        return resp.json()

    def runs_of(self, deployment_id: str) -> list[dict]:
        resp = self.api.write("POST", "/flow_runs/filter", json={"deployments": {"id": {"any_": [deployment_id]}}, "limit": 50})
        assert resp.status_code == 200, resp.text
        return resp.json()

    def state_names(self, run_id: str) -> list[str]:
        resp = self.api.get("/flow_run_states/", params={"flow_run_id": run_id})
        assert resp.status_code == 200, resp.text
        return [s["name"] for s in sorted(resp.json(), key=lambda s: s["timestamp"])]

    def create_run(self, deployment_id: str, **body) -> dict:
        for _ in range(5):  # 503 is retryable, as the SDK's client treats it
            resp = self.api.write("POST", f"/deployments/{deployment_id}/create_flow_run", json=body)
            if resp.status_code != 503:
                break
            time.sleep(1)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def wait_state(self, run_id: str, types: set[str], timeout: float = 90) -> dict:
        def check():
            run = self.flow_run(run_id)
            return run if run["state_type"] in types else None
        return wait_for(f"run {run_id} in {sorted(types)}", check, timeout, self.explain(run_id))

    def explain(self, run_id: str):
        def text() -> str:
            worker = self.worker.tail() if self.worker else "(no worker)"
            return f"states: {self.state_names(run_id)}\n--- worker ---\n{worker}\n--- server ---\n{self.engine.server.log_tail(40)}"
        return text


@pytest.fixture(scope="module")
def project(engine: Scenario):
    p = Project(engine)
    p.cli("work-pool", "create", p.pool, "--type", "process")
    p.cli("work-pool", "create", p.idle_pool, "--type", "process")
    p.start_worker()
    yield p
    if p.worker:
        p.worker.stop()
    p.api.close()


def test_work_pool_created_by_cli(project: Project, openapi: OpenAPI) -> None:
    resp = project.api.get(f"/work_pools/{project.pool}")
    pool = openapi.validate("GET", "/work_pools/{name}", resp)
    assert pool["type"] == "process"
    assert pool["base_job_template"]["job_configuration"]["command"] == "{{ command }}"


def test_prefect_deploy_and_worker_complete_a_run(project: Project, openapi: OpenAPI) -> None:
    project.cli("--no-prompt", "deploy", "deploy_flows.py:hello", "--name", "hello-cli", "--pool", project.pool)
    resp = project.api.get("/deployments/name/hello/hello-cli")
    deployment = openapi.validate("GET", "/deployments/name/{flow_name}/{deployment_name}", resp)
    assert deployment["work_pool_name"] == project.pool
    assert deployment["entrypoint"] == "deploy_flows.py:hello"

    out = project.cli("deployment", "run", "hello/hello-cli", "--param", "name=warden")
    assert "hello-cli" in out or "Created flow run" in out, out
    runs = wait_for("the CLI's flow run", lambda: project.runs_of(deployment["id"]), 30)
    assert len(runs) == 1
    run = project.wait_state(runs[0]["id"], TERMINAL)
    assert run["state_type"] == "COMPLETED", project.explain(run["id"])()
    assert run["parameters"] == {"name": "warden"}
    assert run["work_pool_name"] == project.pool
    names = project.state_names(run["id"])
    assert names[:1] == ["Scheduled"] and "Pending" in names and names[-1] == "Completed", names
    # The worker's poll marked the deployment ready.
    resp = project.api.get(f"/deployments/{deployment['id']}")
    assert openapi.validate("GET", "/deployments/{id}", resp)["status"] == "READY"


def test_cancelling_a_running_deployment_run_stops_it(project: Project) -> None:
    dep = project.deploy_from_source("deploy_flows.py:sleeper", "sleeper", project.pool)
    run = project.create_run(dep, parameters={"seconds": 300})
    running = project.wait_state(run["id"], {"RUNNING"} | TERMINAL)
    assert running["state_type"] == "RUNNING", project.explain(run["id"])()
    pid_info = running.get("infrastructure_pid") or ""
    resp = project.api.write("POST", f"/flow_runs/{run['id']}/set_state",
                             json={"state": {"type": "CANCELLING", "name": "Cancelling"}})
    assert resp.status_code in (200, 201), resp.text
    assert resp.json()["status"] == "ACCEPT", resp.text
    done = project.wait_state(run["id"], TERMINAL, timeout=60)
    assert done["state_type"] == "CANCELLED", project.explain(run["id"])()
    if ":" in pid_info:  # the process worker records "<host>:<pid>"
        pid = int(pid_info.rsplit(":", 1)[1])
        wait_for(f"process {pid} to exit", lambda: not Path(f"/proc/{pid}").exists() or
                 "zombie" in Path(f"/proc/{pid}/status").read_text(errors="replace").lower(), 20)


def test_paused_deployment_run_resumes_with_input(project: Project) -> None:
    dep = project.deploy_from_source("deploy_flows.py:approval", "approval", project.pool)
    run = project.create_run(dep)
    paused = project.wait_state(run["id"], {"PAUSED"} | TERMINAL)
    assert paused["state_type"] == "PAUSED", project.explain(run["id"])()

    def keyset_ready():
        state = project.flow_run(run["id"])["state"]
        keyset = (state.get("state_details") or {}).get("run_input_keyset") or {}
        if not keyset.get("schema"):
            return None
        return project.api.get(f"/flow_runs/{run['id']}/input/{keyset['schema']}").status_code == 200
    wait_for("the run input schema", keyset_ready, 30, project.explain(run["id"]))
    resp = project.api.write("POST", f"/flow_runs/{run['id']}/resume", json={"run_input": {"approver": "ada"}})
    assert resp.status_code in (200, 201), resp.text
    assert resp.json()["status"] == "ACCEPT", resp.text
    done = project.wait_state(run["id"], TERMINAL)
    assert done["state_type"] == "COMPLETED", project.explain(run["id"])()
    resp = project.api.write("POST", "/flow_runs/filter", json={"flow_runs": {"id": {"any_": [run["id"]]}}})
    assert resp.json()[0]["state"]["type"] == "COMPLETED"


def test_run_without_worker_becomes_late(project: Project) -> None:
    dep = project.deploy_from_source("deploy_flows.py:hello", "nobody-polls", project.idle_pool)
    run = project.create_run(dep)
    assert run["state"]["type"] == "SCHEDULED"

    def late():
        r = project.flow_run(run["id"])
        return r if r["state_name"] == "Late" else None
    r = wait_for("the run to become Late", late, 60, project.explain(run["id"]))
    assert r["state_type"] == "SCHEDULED"


def test_deployment_concurrency_limit_enqueues_second_run(project: Project, openapi: OpenAPI) -> None:
    dep = project.deploy_from_source("deploy_flows.py:sleeper", "limited", project.pool, concurrency_limit=1)
    resp = project.api.get(f"/deployments/{dep}")
    deployment = openapi.validate("GET", "/deployments/{id}", resp)
    # As Prefect: the limit lives in a v2 limit; the deprecated field is null.
    assert deployment["concurrency_limit"] is None
    assert deployment["global_concurrency_limit"]["limit"] == 1
    first = project.create_run(dep, parameters={"seconds": 8})
    second = project.create_run(dep, parameters={"seconds": 1})
    project.wait_state(first["id"], {"RUNNING"} | TERMINAL)
    project.wait_state(second["id"], TERMINAL, timeout=120)
    project.wait_state(first["id"], TERMINAL, timeout=60)
    a, b = project.flow_run(first["id"]), project.flow_run(second["id"])
    assert a["state_type"] == "COMPLETED" and b["state_type"] == "COMPLETED", (project.state_names(first["id"]), project.state_names(second["id"]))
    assert "AwaitingConcurrencySlot" in project.state_names(second["id"]), project.state_names(second["id"])
    # The second run only started once the first had finished.
    assert b["start_time"] >= a["end_time"], (a["end_time"], b["start_time"])


def test_flow_serve_interval_runs_at_least_twice(engine: Scenario) -> None:
    env, cwd = engine.client()
    env = {**env, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    name = "serve-" + uuid.uuid4().hex[:8]
    runner = Background([PYTHON, str(SCRIPTS_DIR / "serve_flow.py"), name, "3"], env, cwd, "runner")
    api = ApiSession(engine.server.api_url, engine.auth, csrf=engine.secured)
    try:
        def deployment_id():
            resp = api.get(f"/deployments/name/served-flow/{name}")
            return resp.json()["id"] if resp.status_code == 200 else None
        dep = wait_for("flow.serve() to register its deployment", deployment_id, 60, runner.tail)

        def completed():
            resp = api.write("POST", "/flow_runs/filter", json={
                "deployments": {"id": {"any_": [dep]}}, "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}})
            assert resp.status_code == 200, resp.text
            return resp.json() if len(resp.json()) >= 2 else None
        runs = wait_for("two completed scheduled runs", completed, 120, runner.tail)
        assert all(r["auto_scheduled"] for r in runs)
        assert runner.alive(), runner.tail()
    finally:
        runner.stop()
        api.close()
