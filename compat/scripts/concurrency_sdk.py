"""Drive Warden's concurrency limits through the real SDK: create limits,
hold a slot with prefect.concurrency.sync.concurrency, rate-limit, and the
strict / missing-limit paths. Prints RESULT {...}.

Usage: python concurrency_sdk.py <unique-prefix>
"""

import json
import sys
import time

from prefect import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency, rate_limit


def active_slots(client, name: str) -> int:
    return client.read_global_concurrency_limit_by_name(name).active_slots


def main(prefix: str) -> dict:
    out: dict = {}
    one, rate = f"{prefix}-one", f"{prefix}-rate"
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=one, limit=1))
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=rate, limit=1, slot_decay_per_second=2.0))
        out["before"] = active_slots(client, one)
        with concurrency(one, occupy=1):
            out["inside"] = active_slots(client, one)
        out["after"] = active_slots(client, one)

        started = time.monotonic()
        stamps = []
        for _ in range(3):
            rate_limit(rate, occupy=1)
            stamps.append(time.monotonic() - started)
        out["rate_stamps"] = stamps

        # A limit without decay cannot rate-limit: the SDK surfaces the 422.
        try:
            rate_limit(one, occupy=1)
            out["rate_on_plain"] = "acquired"
        except Exception as exc:  # noqa: BLE001 - the exception is the observation
            out["rate_on_plain"] = f"{type(exc).__name__}: {exc}"

        # Missing limits: skipped unless strict.
        with concurrency(f"{prefix}-missing", occupy=1):
            out["missing_non_strict"] = "entered"
        try:
            with concurrency(f"{prefix}-missing", occupy=1, strict=True):
                out["missing_strict"] = "entered"
        except Exception as exc:  # noqa: BLE001
            out["missing_strict"] = type(exc).__name__
    return out


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(sys.argv[1])))
