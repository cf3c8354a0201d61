"""The three server configurations the suite runs the Prefect SDK against.

- noauth: defaults (no auth string, CSRF off, CORS "*");
- env:    auth + CSRF + a restricted CORS origin, all from PREFECT_* env vars;
          clients get PREFECT_API_URL / PREFECT_API_AUTH_STRING from env;
- toml:   the same security, set ONLY in prefect.toml in the server's working
          directory; clients read [api] url / auth_string from a prefect.toml
          in their own working directory.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from harness import WardenServer, clean_env, toml_string

AUTH = "admin:s3cret"
WRONG_AUTH = "admin:not-the-password"
ALLOWED_ORIGIN = "https://ui.example.test"
OTHER_ORIGIN = "https://evil.example.test"

NAMES = ("noauth", "env", "toml")

# Sentinel: "use this scenario's correct credentials".
CORRECT = object()


@dataclass
class Scenario:
    name: str
    server: WardenServer
    root: Path
    auth: str | None  # the server's auth string
    secured: bool  # CSRF on and CORS restricted
    via_toml: bool
    _counter = itertools.count()

    def warden_log_tail(self) -> str:
        return self.server.log_tail()

    def client(self, auth: object = CORRECT) -> tuple[dict[str, str], Path]:
        """Environment and cwd for one client process. auth=None sends no
        credentials, a string sends that string, CORRECT sends the right one."""
        if auth is CORRECT:
            auth = self.auth
        n = next(self._counter)
        cwd = self.root / f"client-{n}"
        home = self.root / f"client-{n}-home"
        cwd.mkdir()
        home.mkdir()
        extra: dict[str, str] = {}
        if self.via_toml:
            lines = ["[api]", f"url = {toml_string(self.server.api_url)}"]
            if auth is not None:
                lines.append(f"auth_string = {toml_string(auth)}")
            (cwd / "prefect.toml").write_text("\n".join(lines) + "\n")
        else:
            extra["PREFECT_API_URL"] = self.server.api_url
            if auth is not None:
                extra["PREFECT_API_AUTH_STRING"] = auth
        return clean_env(home, extra), cwd


def start_scenario(name: str, binary: Path, root: Path) -> Scenario:
    root.mkdir(parents=True)
    workdir = root / "server-cwd"
    home = root / "server-home"
    workdir.mkdir()
    home.mkdir()
    extra: dict[str, str] = {}
    if name == "env":
        extra = {
            "PREFECT_SERVER_API_AUTH_STRING": AUTH,
            "PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED": "true",
            "PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS": ALLOWED_ORIGIN,
        }
    elif name == "toml":
        (workdir / "prefect.toml").write_text(
            "[server.api]\n"
            f"auth_string = {toml_string(AUTH)}\n"
            "csrf_protection_enabled = true\n"
            f"cors_allowed_origins = {toml_string(ALLOWED_ORIGIN)}\n"
        )
    elif name != "noauth":
        raise ValueError(f"unknown scenario {name}")
    env = clean_env(home, extra)
    env["PREFECT_HOME"] = str(home)
    server = WardenServer(binary=binary, workdir=workdir, home=home, env=env, label=f"warden-{name}")
    server.start()
    return Scenario(
        name=name,
        server=server,
        root=root,
        auth=None if name == "noauth" else AUTH,
        secured=name != "noauth",
        via_toml=name == "toml",
    )
