"""The storage engines the issue-3 acceptance tests run on: one Warden per
engine, both with an auth string and CSRF protection on, configured from
PREFECT_* env vars like the "env" scenario (see scenarios.py).

- sqlite:   a database file in the server's PREFECT_HOME;
- postgres: a fresh database on the session's PostgreSQL (pgcluster.py),
            given as PREFECT_SERVER_DATABASE_CONNECTION_URL=postgresql+asyncpg://...
"""

from __future__ import annotations

from pathlib import Path

from harness import WardenServer, clean_env
from pgcluster import PostgresServer, asyncpg_url
from scenarios import AUTH, Scenario

ENGINES = ("sqlite", "postgres")


def start_engine(engine: str, binary: Path, root: Path, postgres: PostgresServer | None) -> Scenario:
    root.mkdir(parents=True)
    workdir, home = root / "server-cwd", root / "server-home"
    workdir.mkdir()
    home.mkdir()
    extra = {
        "PREFECT_SERVER_API_AUTH_STRING": AUTH,
        "PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED": "true",
        # Issue 4's services on short loops so the deployment tests see
        # scheduling, lateness and cleanup within seconds.
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
        "PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS": "1",
        "PREFECT_SERVER_SERVICES_LATE_RUNS_LOOP_SECONDS": "1",
        "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_LOOP_SECONDS": "2",
        "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_LOOP_SECONDS": "2",
    }
    if engine == "sqlite":
        extra["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = f"sqlite+aiosqlite:///{home / 'warden.db'}"
    elif engine == "postgres":
        assert postgres is not None, "the postgres engine needs a PostgreSQL server"
        extra["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = asyncpg_url(postgres.create_database("engine"))
    else:
        raise ValueError(f"unknown engine {engine}")
    env = clean_env(home, extra)
    env["PREFECT_HOME"] = str(home)
    server = WardenServer(binary=binary, workdir=workdir, home=home, env=env, label=f"warden-engine-{engine}")
    server.start()
    return Scenario(name=engine, server=server, root=root, auth=AUTH, secured=True, via_toml=False)
