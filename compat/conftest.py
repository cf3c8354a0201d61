"""Fixtures: build Warden once, start one server per configuration, and drive
it with the real Prefect SDK in subprocesses. See harness.py and scenarios.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from engines import ENGINES, start_engine
from harness import REPO_ROOT, OpenAPI, WardenServer, clean_env, find_openapi, go_binary
from pgcluster import NoPostgres, PostgresServer, postgres_required
from scenarios import NAMES, Scenario, start_scenario


@pytest.fixture(scope="session")
def warden_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Escape hatch for checking the suite's own expectations: point it at any
    # executable with the same CLI shape, e.g. a wrapper running `prefect`
    # (`prefect server start --host H --port P` is the same command line).
    override = os.environ.get("WARDEN_COMPAT_BINARY")
    if override:
        return Path(override).resolve()
    out = tmp_path_factory.mktemp("bin") / "warden"
    proc = subprocess.run(
        [go_binary(), "build", "-o", str(out), "./cmd/warden"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        pytest.fail(f"go build ./cmd/warden failed:\n{proc.stdout}\n{proc.stderr}", pytrace=False)
    return out


@pytest.fixture(scope="session")
def openapi() -> OpenAPI:
    try:
        return OpenAPI(find_openapi())
    except FileNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)


class _Pool:
    """One server per configuration for the whole session, started on first
    use and stopped (SIGTERM, exit 0 required) at the end."""

    def __init__(self, binary: Path, factory: pytest.TempPathFactory) -> None:
        self.binary = binary
        self.factory = factory
        self.scenarios: dict[str, Scenario] = {}

    def get(self, name: str) -> Scenario:
        if name not in self.scenarios:
            root = self.factory.mktemp(f"scenario-{name}") / "run"
            self.scenarios[name] = start_scenario(name, self.binary, root)
        return self.scenarios[name]

    def stop_all(self) -> None:
        failures = []
        for scenario in self.scenarios.values():
            try:
                scenario.server.stop()
            except AssertionError as exc:
                failures.append(str(exc))
        if failures:
            pytest.fail("\n\n".join(failures), pytrace=False)


@pytest.fixture(scope="session")
def scenario_pool(warden_bin: Path, tmp_path_factory: pytest.TempPathFactory):
    pool = _Pool(warden_bin, tmp_path_factory)
    yield pool
    pool.stop_all()


@pytest.fixture(scope="module", params=NAMES)
def scenario(request: pytest.FixtureRequest, scenario_pool: _Pool) -> Scenario:
    """Every test taking this runs once per configuration."""
    return scenario_pool.get(request.param)


class _EnginePool(_Pool):
    """One secured server per storage engine for the whole session (see
    engines.py). The pool owns the PostgreSQL server too, started on first
    use, so it is stopped only after the Warden servers using it."""

    def __init__(self, binary: Path, factory: pytest.TempPathFactory) -> None:
        super().__init__(binary, factory)
        self._postgres: PostgresServer | None = None
        self._postgres_error: Exception | None = None

    def postgres(self) -> PostgresServer:
        if self._postgres is None and self._postgres_error is None:
            try:
                self._postgres = PostgresServer.start()
            except Exception as exc:  # remembered: one attempt per session
                self._postgres_error = exc
        if self._postgres_error is not None:
            if isinstance(self._postgres_error, NoPostgres) and not postgres_required():
                pytest.skip(f"{self._postgres_error} (set WARDEN_TEST_POSTGRES=required to fail instead)")
            pytest.fail(f"PostgreSQL for the compat suite: {self._postgres_error}", pytrace=False)
        return self._postgres

    def get(self, engine: str) -> Scenario:
        if engine not in self.scenarios:
            postgres = self.postgres() if engine == "postgres" else None
            root = self.factory.mktemp(f"engine-{engine}") / "run"
            self.scenarios[engine] = start_engine(engine, self.binary, root, postgres)
        return self.scenarios[engine]

    def stop_all(self) -> None:
        try:
            super().stop_all()
        finally:
            if self._postgres is not None:
                self._postgres.stop()


@pytest.fixture(scope="session")
def engine_pool(warden_bin: Path, tmp_path_factory: pytest.TempPathFactory):
    pool = _EnginePool(warden_bin, tmp_path_factory)
    yield pool
    pool.stop_all()


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest, engine_pool: _EnginePool) -> Scenario:
    """Every test taking this runs once per storage engine, against a server
    with auth and CSRF on (skipped on postgres without PostgreSQL binaries,
    unless WARDEN_TEST_POSTGRES=required)."""
    return engine_pool.get(request.param)


@pytest.fixture
def warden_factory(warden_bin: Path, tmp_path: Path):
    """Start extra, test-private servers: warden_factory(env=..., files=...)."""
    started: list[WardenServer] = []

    def start(label: str, env: dict[str, str] | None = None, files: dict[str, str] | None = None) -> WardenServer:
        root = tmp_path / label
        workdir, home = root / "cwd", root / "home"
        workdir.mkdir(parents=True)
        home.mkdir()
        for name, content in (files or {}).items():
            (workdir / name).write_text(content)
        full_env = clean_env(home, env)
        full_env["PREFECT_HOME"] = str(home)
        server = WardenServer(binary=warden_bin, workdir=workdir, home=home, env=full_env, label=label)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        if server.proc is not None and server.proc.poll() is None:
            server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    """Attach the log of every server a failing test used."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for name, value in getattr(item, "funcargs", {}).items():
            tail = getattr(value, "warden_log_tail", None) or getattr(value, "log_tail", None)
            if callable(tail):
                report.sections.append((f"warden log ({name})", tail()))
