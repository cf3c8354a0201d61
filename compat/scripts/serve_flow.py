"""flow.serve() with an interval schedule, as a user would run it; runs until
killed. Usage: python serve_flow.py <deployment-name> <interval-seconds>"""

import sys

from prefect import flow


@flow(name="served-flow")
def served(tag: str = "served") -> str:
    return tag


if __name__ == "__main__":
    served.serve(name=sys.argv[1], interval=float(sys.argv[2]))
