"""A real PostgreSQL for the compatibility suite: one throwaway cluster per
pytest session (initdb + pg_ctl, as the `postgres` user when we are root,
like internal/storage/pgtest), or the server named by
WARDEN_TEST_POSTGRES_URL. Every Warden server gets its own database.

When no PostgreSQL binaries are found the caller skips, unless
WARDEN_TEST_POSTGRES=required, when it fails.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from harness import free_port

ENV_URL = "WARDEN_TEST_POSTGRES_URL"
ENV_REQUIRED = "WARDEN_TEST_POSTGRES"


class NoPostgres(Exception):
    """No PostgreSQL binaries: the one setup failure that may skip."""


def postgres_required() -> bool:
    return os.environ.get(ENV_REQUIRED) == "required"


def find_bin_dir() -> Path:
    """initdb/pg_ctl on PATH first, then Debian's versioned directories
    (highest version wins)."""
    initdb = shutil.which("initdb")
    if initdb and (Path(initdb).resolve().parent / "pg_ctl").exists():
        return Path(initdb).resolve().parent  # through symlinks: psql is there too

    def version(path: str) -> int:
        try:
            return int(Path(path).parent.parent.name)
        except ValueError:
            return 0

    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version, reverse=True):
        if (Path(candidate).parent / "pg_ctl").exists():
            return Path(candidate).parent
    raise NoPostgres("no PostgreSQL binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin")


def psql_client(bin_dir: Path | None) -> str:
    """psql beside the server binaries (PATH may hold symlinks to only some
    of them), else the one on PATH."""
    if bin_dir is not None and (bin_dir / "psql").exists():
        return str(bin_dir / "psql")
    found = shutil.which("psql")
    if found is None:
        raise RuntimeError("no psql client found to create the test databases")
    return found


class PostgresServer:
    """Where the suite creates its databases. admin_url is a postgres://
    superuser URL; cluster-owned servers are deleted as a whole on stop."""

    def __init__(self, admin_url: str, psql: str, external: bool, data_dir: Path | None = None,
                 bin_dir: Path | None = None, run_as: str | None = None) -> None:
        self.admin_url = admin_url
        self.psql = psql
        self.external = external
        self.data_dir = data_dir
        self.bin_dir = bin_dir
        self.run_as = run_as
        self.created: list[str] = []
        self.prefix = f"warden_compat_{os.getpid()}"

    # -- lifecycle -----------------------------------------------------------

    @classmethod
    def start(cls) -> "PostgresServer":
        url = os.environ.get(ENV_URL)
        if url:
            if not url.startswith(("postgres://", "postgresql://")):
                raise RuntimeError(f"{ENV_URL} must be a postgres:// URL")
            return cls(url, psql_client(None), external=True)
        return cls._start_cluster()

    @classmethod
    def _start_cluster(cls) -> "PostgresServer":
        bin_dir = find_bin_dir()
        root = Path(tempfile.mkdtemp(prefix="warden-compat-pg-"))
        run_as = None
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root.
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(root, ignore_errors=True)
                raise RuntimeError("running as root, and PostgreSQL refuses root: need a 'postgres' system user") from None
            os.chown(root, pw.pw_uid, pw.pw_gid)
            run_as = "postgres"
        server = cls("", psql_client(bin_dir), external=False, data_dir=root / "data", bin_dir=bin_dir, run_as=run_as)
        server._root = root
        out = server._pg("initdb", "-D", str(server.data_dir), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                         "--locale=C", "--no-sync", "--no-instructions")
        if out.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError(f"initdb failed: {out.stdout}{out.stderr}")
        last = ""
        # A free port can be taken between our probe and the server's bind.
        for _ in range(3):
            port = free_port()
            opts = " ".join([
                "-c listen_addresses=127.0.0.1", f"-p {port}", f"-c unix_socket_directories={root}",
                "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off", "-c max_connections=300",
            ])
            out = server._pg("pg_ctl", "-D", str(server.data_dir), "-l", str(root / "postgres.log"),
                             "-w", "-t", "60", "-o", opts, "start")
            if out.returncode == 0:
                server.admin_url = f"postgres://postgres@127.0.0.1:{port}/postgres"
                return server
            last = out.stdout + out.stderr + server.log_tail()
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"pg_ctl start failed: {last}")

    def stop(self) -> None:
        if self.external:
            for name in self.created:
                self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        out = self._pg("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self._root, ignore_errors=True)
        if out.returncode != 0:
            raise RuntimeError(f"pg_ctl stop failed: {out.stdout}{out.stderr}")

    def log_tail(self, chars: int = 2000) -> str:
        if self.external:
            return ""
        try:
            return (self._root / "postgres.log").read_text(errors="replace")[-chars:]
        except (FileNotFoundError, AttributeError):
            return ""

    # -- databases -----------------------------------------------------------

    def create_database(self, label: str) -> str:
        """A new empty database; returns its postgres:// URL."""
        name = f"{self.prefix}_{label}_{int(time.time() * 1000) % 10**8}"
        self.sql(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        parts = urlsplit(self.admin_url)
        return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))

    def sql(self, statement: str) -> str:
        out = subprocess.run(
            [self.psql, "-X", "-q", "-t", "-v", "ON_ERROR_STOP=1", "-d", self.admin_url, "-c", statement],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        )
        if out.returncode != 0:
            raise RuntimeError(f"psql {statement!r}: {out.stderr.strip()}")
        return out.stdout

    def _pg(self, name: str, *args: str) -> subprocess.CompletedProcess:
        command = [str(self.bin_dir / name), *args]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120,
                              cwd=self._root, stdin=subprocess.DEVNULL)


def asyncpg_url(url: str) -> str:
    """The SQLAlchemy-style URL Prefect (and so Warden) settings take."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql+asyncpg", parts.netloc, parts.path, parts.query, parts.fragment))
