"""Process harness for the compatibility suite.

Warden runs as a real subprocess (built from this checkout), and every piece of
Prefect client code runs in its own Python subprocess with an environment we
build from scratch, so the SDK resolves its settings exactly as it would on a
user's machine: from env vars, or from prefect.toml in its working directory.
Nothing of the developer's PREFECT_* / WARDEN_* environment leaks in.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from jsonschema import Draft202012Validator

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPAT_DIR = Path(__file__).resolve().parent
SCRIPTS_DIR = COMPAT_DIR / "scripts"

# The suite is run by the venv's interpreter (make test-compat); clients use
# the same interpreter so they see the pinned prefect.
_VENV_PY = REPO_ROOT / ".venv" / "bin" / "python"
PYTHON = str(_VENV_PY if _VENV_PY.exists() else Path(sys.executable))

# Prefect's own server (see WARDEN_COMPAT_BINARY in conftest.py) can take
# longer than Warden to start on a busy machine.
START_TIMEOUT = float(os.environ.get("WARDEN_COMPAT_START_TIMEOUT", "30"))
STOP_TIMEOUT = 10.0
CLIENT_TIMEOUT = 120.0

RESULT_MARKER = "RESULT "


def go_binary() -> str:
    found = shutil.which("go")
    if found:
        return found
    fallback = Path("/usr/local/go/bin/go")
    if fallback.exists():
        return str(fallback)
    raise RuntimeError("go toolchain not found on PATH or at /usr/local/go/bin/go")


def find_openapi() -> Path:
    """shared/reference lives beside the repo (CI copies shared/ next to the
    clone); walk up from the repo root so any checkout depth works."""
    for directory in [REPO_ROOT, *REPO_ROOT.parents]:
        candidate = directory / "shared" / "reference" / "prefect-openapi.json"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"shared/reference/prefect-openapi.json not found in {REPO_ROOT} or any parent"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A from-scratch environment: only what a process needs to run, a private
    HOME and PREFECT_HOME, plus the scenario's own variables."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(home),
        "PREFECT_HOME": str(home / ".prefect"),
        "LANG": "C.UTF-8",
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if extra:
        env.update(extra)
    return env


def basic_auth(auth_string: str) -> dict[str, str]:
    """The header Prefect clients send: base64 of the whole auth string."""
    token = base64.b64encode(auth_string.encode()).decode()
    return {"Authorization": f"Basic {token}"}


def toml_string(value: str) -> str:
    # JSON string escaping is valid TOML basic-string escaping for our values.
    return json.dumps(value)


@dataclass
class WardenServer:
    """One running `warden server start` subprocess."""

    binary: Path
    workdir: Path  # cwd: where .env / prefect.toml are read from
    home: Path  # PREFECT_HOME
    env: dict[str, str]
    label: str
    port: int = 0
    proc: subprocess.Popen | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.workdir.parent / f"{self.label}.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def start(self) -> None:
        self.port = free_port()
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(
                [str(self.binary), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last = "no answer yet"
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(
                        f"warden ({self.label}) exited with {self.proc.returncode} before becoming healthy; log:\n{self.log_tail()}"
                    )
                try:
                    resp = http.get(f"{self.api_url}/health")
                    if resp.status_code == 200 and resp.json() is True:
                        return
                    last = f"{resp.status_code} {resp.text[:200]}"
                except httpx.TransportError as exc:
                    last = repr(exc)
                # Readiness polling: the process gives no other signal we can
                # await without parsing its log format.
                time.sleep(0.05)
        self.kill()
        raise AssertionError(
            f"warden ({self.label}) not healthy after {START_TIMEOUT}s (last: {last}); log:\n{self.log_tail()}"
        )

    def stop(self) -> int:
        """SIGTERM, then require a clean exit 0 within STOP_TIMEOUT."""
        if self.proc is None:
            return 0
        if self.proc.poll() is not None:
            raise AssertionError(
                f"warden ({self.label}) died during the tests with {self.proc.returncode}; log:\n{self.log_tail()}"
            )
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"warden ({self.label}) did not exit within {STOP_TIMEOUT}s of SIGTERM; log:\n{self.log_tail()}"
            )
        if code != 0:
            raise AssertionError(f"warden ({self.label}) exited {code} on SIGTERM; log:\n{self.log_tail()}")
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)


def run_warden_cli(binary: Path, args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(binary), *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


@dataclass
class ClientRun:
    proc: subprocess.CompletedProcess
    what: str

    def describe(self) -> str:
        return (
            f"{self.what} exited {self.proc.returncode}\n--- stdout ---\n{self.proc.stdout[-4000:]}"
            f"\n--- stderr ---\n{self.proc.stderr[-6000:]}"
        )

    def result(self) -> dict:
        """The JSON object a client script printed on its RESULT line."""
        assert self.proc.returncode == 0, self.describe()
        for line in reversed(self.proc.stdout.splitlines()):
            if line.startswith(RESULT_MARKER):
                return json.loads(line[len(RESULT_MARKER):])
        raise AssertionError(f"no {RESULT_MARKER!r} line\n{self.describe()}")


def run_script(script: str, args: list[str], env: dict[str, str], cwd: Path) -> ClientRun:
    proc = subprocess.run(
        [PYTHON, str(SCRIPTS_DIR / script), *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
    )
    return ClientRun(proc, f"{script} {' '.join(args)}")


def run_prefect_cli(args: list[str], env: dict[str, str], cwd: Path) -> ClientRun:
    proc = subprocess.run(
        [PYTHON, "-m", "prefect", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
    )
    return ClientRun(proc, f"prefect {' '.join(args)}")


class OpenAPI:
    """Validates raw responses against Prefect's published OpenAPI document."""

    def __init__(self, path: Path) -> None:
        self.doc = json.loads(path.read_text())
        self._validators: dict[tuple[str, str, int], Draft202012Validator] = {}

    def _schema(self, method: str, path: str, status: int) -> dict:
        try:
            responses = self.doc["paths"][path][method.lower()]["responses"]
        except KeyError:
            raise AssertionError(f"OpenAPI has no operation {method} {path}") from None
        response = responses.get(str(status))
        if response is None and 200 <= status < 300:
            # Prefect documents some creates as 200 although it answers 201.
            response = next(
                (r for code, r in responses.items() if code.startswith("2") and "content" in r),
                None,
            )
        if response is None or "content" not in response:
            raise AssertionError(f"OpenAPI has no JSON body for {status} on {method} {path}")
        return response["content"]["application/json"]["schema"]

    def validate(self, method: str, path: str, response: httpx.Response) -> object:
        """Validate response's JSON body; path is the OpenAPI template without /api."""
        key = (method.upper(), path, response.status_code)
        validator = self._validators.get(key)
        if validator is None:
            schema = dict(self._schema(method, path, response.status_code))
            # Refs are "#/components/...": give them a root to resolve against.
            schema["components"] = self.doc["components"]
            validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
            self._validators[key] = validator
        body = response.json()
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        assert not errors, f"{method} {path} -> {response.status_code} violates OpenAPI:\n" + "\n".join(
            f"  at {list(e.absolute_path)}: {e.message}" for e in errors[:10]
        ) + f"\nbody: {json.dumps(body)[:2000]}"
        return body


class ApiSession:
    """Raw HTTP against a server, the way a careful client would do it: the
    Basic header when an auth string is given and, for writes, a CSRF token
    fetched from /csrf-token when the server has CSRF on."""

    def __init__(self, api_url: str, auth: str | None, csrf: bool) -> None:
        self.api_url = api_url
        self.csrf = csrf
        self.http = httpx.Client(base_url=api_url, headers=basic_auth(auth) if auth else {}, timeout=10.0)
        self.csrf_client = f"compat-{os.getpid()}-{id(self)}"
        self._token: str | None = None

    def close(self) -> None:
        self.http.close()

    def csrf_headers(self) -> dict[str, str]:
        if not self.csrf:
            return {}
        if self._token is None:
            resp = self.http.get("/csrf-token", params={"client": self.csrf_client})
            assert resp.status_code == 200, f"csrf-token: {resp.status_code} {resp.text}"
            self._token = resp.json()["token"]
        return {"Prefect-Csrf-Token": self._token, "Prefect-Csrf-Client": self.csrf_client}

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def write(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = {**kwargs.pop("headers", {}), **self.csrf_headers()}
        return self.http.request(method, path, headers=headers, **kwargs)
