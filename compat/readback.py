"""Read what a server recorded back through its API (httpx, with the auth
header and CSRF tokens of a careful client), validating every response
against Prefect's OpenAPI document."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Callable, TypeVar

from harness import ApiSession, OpenAPI
from scenarios import Scenario

T = TypeVar("T")

PAGE = 200  # the API's largest page

# Task runs, their states and logs reach the server asynchronously (events
# and batched log writes), and the recorder may apply them a moment after the
# client exits. Polling the API for the expected rows is the only signal a
# black-box client has.
SETTLE_TIMEOUT = 30.0


def wait_until(what: str, probe: Callable[[], T], done: Callable[[T], bool], timeout: float = SETTLE_TIMEOUT) -> T:
    """Poll probe() until done(value); return the last value, or fail with
    it once the timeout has passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last seen: {value!r}"[:4000])
        time.sleep(0.1)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Reader:
    def __init__(self, scenario: Scenario, openapi: OpenAPI) -> None:
        self.api = ApiSession(scenario.server.api_url, scenario.auth, csrf=scenario.secured)
        self.openapi = openapi

    def close(self) -> None:
        self.api.close()

    def get(self, template: str, path: str | None = None, **params) -> object:
        resp = self.api.get(path or template, params=params or None)
        assert resp.status_code == 200, f"GET {path or template}: {resp.status_code} {resp.text[:500]}"
        return self.openapi.validate("GET", template, resp)

    def post(self, template: str, body: dict, path: str | None = None, expect: tuple[int, ...] = (200,)) -> object:
        resp = self.api.write("POST", path or template, json=body)
        assert resp.status_code in expect, f"POST {path or template}: {resp.status_code} {resp.text[:500]}"
        return self.openapi.validate("POST", template, resp)

    def _pages(self, template: str, body: dict) -> list[dict]:
        out: list[dict] = []
        while True:
            page = self.post(template, {**body, "limit": PAGE, "offset": len(out)})
            out.extend(page)
            if len(page) < PAGE:
                return out

    # -- runs ----------------------------------------------------------------

    def flow_runs(self, flow_name: str) -> list[dict]:
        return self._pages("/flow_runs/filter", {"flows": {"name": {"any_": [flow_name]}}, "sort": "START_TIME_ASC"})

    def flow_run(self, flow_run_id: str) -> dict:
        return self.get("/flow_runs/{id}", f"/flow_runs/{flow_run_id}")

    def flow_run_states(self, flow_run_id: str) -> list[dict]:
        return self.get("/flow_run_states/", flow_run_id=flow_run_id)

    def task_runs(self, flow_run_id: str) -> list[dict]:
        return self._pages(
            "/task_runs/filter",
            {"task_runs": {"flow_run_id": {"any_": [flow_run_id]}}, "sort": "EXPECTED_START_TIME_ASC"},
        )

    def task_run_states(self, task_run_id: str) -> list[dict]:
        return self.get("/task_run_states/", task_run_id=task_run_id)

    def settled_task_runs(self, flow_run_id: str, count: int, timeout: float = SETTLE_TIMEOUT) -> list[dict]:
        """The flow run's task runs once `count` of them are in a final state."""
        final = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
        return wait_until(
            f"{count} final task runs of flow run {flow_run_id}",
            lambda: self.task_runs(flow_run_id),
            lambda runs: len(runs) >= count and all(r["state_type"] in final for r in runs),
            timeout,
        )

    def settled_task_run_states(self, task_run: dict) -> list[dict]:
        """A task run's state history once its current state is in it."""
        return wait_until(
            f"state history of task run {task_run['name']}",
            lambda: self.task_run_states(task_run["id"]),
            lambda states: bool(states) and states[-1]["id"] == task_run["state"]["id"],
        )

    # -- logs, artifacts, events -----------------------------------------------

    def logs(self, flow_run_id: str) -> list[dict]:
        return self._pages("/logs/filter", {"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "sort": "TIMESTAMP_ASC"})

    def artifacts(self, flow_run_id: str) -> list[dict]:
        """Oldest first (Prefect sorts artifacts newest first only)."""
        return self._pages("/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}, "sort": "CREATED_DESC"})[::-1]

    def event_counts(self, prefix: str, since: datetime, **filters: dict) -> dict[str, int]:
        """Events named prefix* since `since`, matching the EventFilter
        fields given (e.g. related=..., resource=...), counted per name."""
        until = datetime.now(timezone.utc) + timedelta(minutes=1)
        body = {
            "filter": {
                "occurred": {"since": since.isoformat(), "until": until.isoformat()},
                "event": {"prefix": [prefix]},
                **filters,
            }
        }
        counts = self.post("/events/count-by/{countable}", body, path="/events/count-by/event")
        return {c["value"]: c["count"] for c in counts}
