"""Hold one slot of a concurrency limit for a while and report when the slot
was held (wall-clock, so two processes can be compared). Prints RESULT {...}.

Usage: python concurrency_hold.py <limit-name> <hold-seconds>
"""

import json
import sys
import time

from prefect.concurrency.sync import concurrency


def main(name: str, hold: float) -> dict:
    with concurrency(name, occupy=1, strict=True):
        start = time.time()
        time.sleep(hold)
        end = time.time()
    return {"start": start, "end": end}


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(sys.argv[1], float(sys.argv[2]))))
