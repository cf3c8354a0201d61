"""Secrets (auth string, database password) never leak: not in Warden's
stdout/stderr, not in `warden config view` (without --show-secrets), not in
GET /api/admin/settings."""

from __future__ import annotations

import base64
import subprocess
import uuid

import httpx
import pytest

from harness import basic_auth, clean_env, free_port, run_warden_cli, toml_string

MASK = "**********"


def forms(secret: str) -> list[str]:
    """A secret and the encodings it could leak in (the Basic header)."""
    return [secret, base64.b64encode(secret.encode()).decode()]


def assert_absent(text: str, secrets: list[str], where: str) -> None:
    for secret in secrets:
        for form in forms(secret):
            assert form not in text, f"secret leaked in {where}"


@pytest.mark.parametrize("source", ["env", "toml"])
def test_secrets_stay_hidden(warden_factory, warden_bin, source: str) -> None:
    auth = f"admin:auth-{uuid.uuid4().hex}"
    password = f"pw-{uuid.uuid4().hex}"
    if source == "env":
        server = warden_factory(
            f"secrets-{source}",
            env={
                "PREFECT_SERVER_API_AUTH_STRING": auth,
                "PREFECT_SERVER_DATABASE_PASSWORD": password,
                "PREFECT_SERVER_LOGGING_LEVEL": "DEBUG",
            },
        )
    else:
        server = warden_factory(
            f"secrets-{source}",
            env={"PREFECT_SERVER_LOGGING_LEVEL": "DEBUG"},
            files={
                "prefect.toml": (
                    f"[server.api]\nauth_string = {toml_string(auth)}\n\n"
                    f"[server.database]\npassword = {toml_string(password)}\n"
                )
            },
        )
    secrets = [auth, password]

    # Exercise the paths that are most tempted to log credentials.
    assert httpx.get(f"{server.api_url}/hello", headers=basic_auth(auth)).status_code == 200
    assert httpx.get(f"{server.api_url}/hello", headers=basic_auth(auth + "x")).status_code == 401
    assert httpx.get(f"{server.api_url}/admin/settings").status_code == 401

    resp = httpx.get(f"{server.api_url}/admin/settings", headers=basic_auth(auth))
    assert resp.status_code == 200, resp.text
    assert_absent(resp.text, secrets, "/api/admin/settings")
    settings = resp.json()
    assert settings["server"]["api"]["auth_string"] == MASK
    assert settings["server"]["database"]["password"] == MASK

    view = run_warden_cli(warden_bin, ["config", "view"], server.workdir, server.env)
    assert view.returncode == 0, view.stderr
    assert_absent(view.stdout + view.stderr, secrets, "warden config view")
    assert "PREFECT_SERVER_API_AUTH_STRING" in view.stdout
    assert "PREFECT_SERVER_DATABASE_PASSWORD" in view.stdout

    # The same settings are really loaded: --show-secrets reveals them.
    shown = run_warden_cli(warden_bin, ["config", "view", "--show-secrets"], server.workdir, server.env)
    assert shown.returncode == 0, shown.stderr
    assert auth in shown.stdout and password in shown.stdout

    server.stop()
    log = server.log_text()
    assert log.strip(), "expected Warden to log something at DEBUG"
    assert_absent(log, secrets, "Warden's stdout/stderr")


def test_database_url_password_hidden(warden_bin, tmp_path) -> None:
    """A Postgres URL carrying a password: masked in config view, and absent
    from the error when the database cannot be reached."""
    password = f"pgpw{uuid.uuid4().hex}"
    port = free_port()  # nothing listens there
    workdir, home = tmp_path / "cwd", tmp_path / "home"
    workdir.mkdir()
    home.mkdir()
    env = clean_env(
        home,
        {
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"postgresql+asyncpg://warden:{password}@127.0.0.1:{port}/warden",
            "PREFECT_SERVER_DATABASE_TIMEOUT": "3",
        },
    )

    view = run_warden_cli(warden_bin, ["config", "view"], workdir, env)
    assert view.returncode == 0, view.stderr
    assert "PREFECT_SERVER_DATABASE_CONNECTION_URL" in view.stdout
    assert_absent(view.stdout + view.stderr, [password], "warden config view")

    shown = run_warden_cli(warden_bin, ["config", "view", "--show-secrets"], workdir, env)
    assert password in shown.stdout

    try:
        start = subprocess.run(
            [str(warden_bin), "server", "start", "--host", "127.0.0.1", "--port", str(free_port())],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"warden kept running without its database for 60s; output: {exc.stdout!r} {exc.stderr!r}")
    assert start.returncode != 0, "warden started although its database is unreachable"
    assert start.stdout + start.stderr, "expected an error message"
    assert_absent(start.stdout + start.stderr, [password], "the start-up error")
