"""Seed the read-side dataset into a stopped server's SQLite database.

Both servers get the same logical rows (same ids, names, flows, states,
timestamps, tags), generated here from the row index alone; only the
storage encoding differs:

both through sqlite3 in each server's own storage format (see Encodings).
check-prefect writes sample rows through Prefect's own ORM tables into a
scratch copy of a Prefect database and fails if the encodings differ.

Usage: seed.py prefect|warden|check-prefect DB_PATH FLOWS FLOW_RUNS TASK_RUNS BASE_EPOCH
Prints: RESULT {"flow_runs": n, "task_runs": m, "seconds": s}
The dataset is described in bench/README.md and the report.
"""

import datetime as dt
import json
import sqlite3
import sys
import time

UTC = dt.timezone.utc  # every datetime below is naive UTC: isoformat is fast
SPAN = dt.timedelta(days=30)
# i % 20 -> (type, name): 70% completed, 10% failed, 5% running,
# 10% scheduled, 5% cancelled.
def uid(kind: int, i: int) -> str:
    return f"{kind:08x}-0000-4000-8000-{i:012x}"


class Json:
    """A JSON value with both servers' encodings computed once: Prefect's
    json.dumps default separators, Warden's compact form."""

    __slots__ = ("prefect", "warden")

    def __init__(self, value):
        self.prefect = json.dumps(value)
        self.warden = json.dumps(value, separators=(",", ":"))


FLOW_POLICY = Json({"max_retries": 0, "retry_delay_seconds": 0.0, "retries": None, "retry_delay": None,
                    "pause_keys": [], "resuming": False, "retry_type": None})
TASK_POLICY = Json({"max_retries": 0, "retry_delay_seconds": 0.0, "retries": None, "retry_delay": None,
                    "retry_jitter_factor": None})
EMPTY = Json({})
BENCH_TAGS = Json(["bench"])
FLOW_RUN_TAGS = [Json(["bench", f"team-{k}"]) for k in range(5)]
# Every key of Prefect's StateDetails, as its ORM writes them.
STATE_DETAILS = dict.fromkeys([
    "flow_run_id", "task_run_id", "child_flow_run_id", "scheduled_time", "cache_key", "cache_expiration",
    "deferred", "untrackable_result", "pause_timeout", "pause_reschedule", "pause_key", "run_input_keyset",
    "refresh_cache", "retriable", "transition_id", "task_parameters_id", "traceparent",
    "deployment_concurrency_lease_id"]) | {"deferred": False, "untrackable_result": False, "pause_reschedule": False}
STATES = [("COMPLETED", "Completed")] * 14 + [("FAILED", "Failed")] * 2 + [("RUNNING", "Running")] + \
    [("SCHEDULED", "Scheduled")] * 2 + [("CANCELLED", "Cancelled")]


def state_details(flow_run_id, task_run_id=None):
    return Json(STATE_DETAILS | {"flow_run_id": flow_run_id, "task_run_id": task_run_id})


def run_times(i: int, expected: dt.datetime):
    typ, name = STATES[i % 20]
    start = end = None
    if typ != "SCHEDULED":
        start = expected + dt.timedelta(seconds=5)
    if typ in ("COMPLETED", "FAILED", "CANCELLED"):
        end = start + dt.timedelta(seconds=10 + i % 50)
    state_ts = end or start or expected
    return typ, name, start, end, state_ts


def flows(n, base):
    for k in range(n):
        yield dict(id=uid(1, k), created=base, updated=base, name=f"bench-flow-{k:02d}", tags=BENCH_TAGS)


def flow_runs(n_flows, n, base):
    step = SPAN / n
    for i in range(n):
        expected = base + step * (i + 1)
        typ, name, start, end, state_ts = run_times(i, expected)
        created = expected - dt.timedelta(seconds=60)
        run = dict(
            id=uid(2, i), created=created, updated=state_ts, name=f"fr-{i:07d}", flow_id=uid(1, i % n_flows),
            state_id=uid(3, i), state_type=typ, state_name=name, state_timestamp=state_ts,
            run_count=0 if start is None else 1, expected_start_time=expected,
            next_scheduled_start_time=expected if typ == "SCHEDULED" else None,
            start_time=start, end_time=end, total_run_time=(end - start) if end else dt.timedelta(0),
            tags=FLOW_RUN_TAGS[i % 5], parameters=EMPTY, context=EMPTY, empirical_policy=FLOW_POLICY,
            job_variables=EMPTY, auto_scheduled=False,
        )
        state = dict(id=uid(3, i), created=state_ts, updated=state_ts, flow_run_id=uid(2, i), type=typ,
                     name=name, timestamp=state_ts, message=None,
                     state_details=state_details(uid(2, i)), data=None)
        yield run, state


def task_runs(n_fr, n, base):
    per = max(1, n // n_fr)
    step = SPAN / n_fr
    for j in range(n):
        fr = min(j // per, n_fr - 1)
        expected = base + step * (fr + 1) + dt.timedelta(seconds=6 + j % per)
        typ, name, start, end, state_ts = run_times(j, expected)
        run = dict(
            id=uid(4, j), created=expected, updated=state_ts, name=f"task-{j % 10}-{j:08d}", flow_run_id=uid(2, fr),
            task_key=f"task-{j % 10}", dynamic_key=str(j), state_id=uid(5, j), state_type=typ, state_name=name,
            state_timestamp=state_ts, run_count=0 if start is None else 1, flow_run_run_count=1,
            expected_start_time=expected, next_scheduled_start_time=expected if typ == "SCHEDULED" else None,
            start_time=start, end_time=end, total_run_time=(end - start) if end else dt.timedelta(0),
            tags=BENCH_TAGS, empirical_policy=TASK_POLICY, task_inputs=EMPTY,
        )
        state = dict(id=uid(5, j), created=state_ts, updated=state_ts, task_run_id=uid(4, j), type=typ,
                     name=name, timestamp=state_ts, message=None,
                     state_details=state_details(uid(2, fr), uid(4, j)), data=None)
        yield run, state


def chunks(it, size=20000):
    buf = []
    for x in it:
        buf.append(x)
        if len(buf) == size:
            yield buf
            buf = []
    if buf:
        yield buf


# -- Encodings ----------------------------------------------------------------
# Prefect on SQLite (prefect/server/utilities/database.py through SQLAlchemy's
# sqlite dialect): naive UTC "YYYY-MM-DD HH:MM:SS.ffffff", intervals as that
# datetime past the epoch, JSON as json.dumps with default separators.
# Checked against rows written through Prefect's own ORM tables (see
# --check); writing through the ORM is ~10x slower (pydantic per row).
# Warden (internal/storage/sqlite, migration 0001): "2006-01-02T15:04:05.000000Z"
# and total_run_time in microseconds.

EPOCH = dt.datetime(1970, 1, 1)


PREFECT = {
    dt.datetime: lambda v: v.isoformat(" ", "microseconds"),
    dt.timedelta: lambda v: (EPOCH + v).isoformat(" ", "microseconds"),
    bool: int,
    Json: lambda v: v.prefect,
}
WARDEN = {
    dt.datetime: lambda v: v.isoformat("T", "microseconds") + "Z",
    dt.timedelta: lambda v: v // dt.timedelta(microseconds=1),
    bool: int,
    Json: lambda v: v.warden,
}


def encoder(table):
    def encode(v):
        f = table.get(type(v))
        return v if f is None else f(v)
    return encode


prefect_value, warden_value = encoder(PREFECT), encoder(WARDEN)


def insert(conn, encode, table, rows):
    cols = list(rows[0])
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    conn.executemany(sql, [[encode(r[c]) for c in cols] for r in rows])


def seed(path, encode, n_flows, n_fr, n_tr, base):
    conn = sqlite3.connect(path)
    with conn:
        insert(conn, encode, "flow", list(flows(n_flows, base)))
        for chunk in chunks(flow_runs(n_flows, n_fr, base)):
            insert(conn, encode, "flow_run", [r for r, _ in chunk])
            insert(conn, encode, "flow_run_state", [s for _, s in chunk])
        for chunk in chunks(task_runs(n_fr, n_tr, base)):
            insert(conn, encode, "task_run", [r for r, _ in chunk])
            insert(conn, encode, "task_run_state", [s for _, s in chunk])
    conn.close()


def orm_value(v):
    """A generated value as Prefect's ORM takes it."""
    if isinstance(v, dt.datetime):
        return v.replace(tzinfo=UTC)
    if isinstance(v, Json):
        return json.loads(v.prefect)
    return v


def check_prefect_encoding(path, base):
    """Write a few rows through Prefect's ORM tables into path and compare
    them with prefect_value's encoding; raise on any difference."""
    import sqlalchemy as sa
    from prefect.server.database import orm_models as orm

    engine = sa.create_engine(f"sqlite:///{path}")
    fr, frs = next(flow_runs(1, 20, base))
    tr, trs = next(task_runs(20, 20, base))
    cases = [(orm.Flow, next(flows(1, base))), (orm.FlowRun, fr), (orm.FlowRunState, frs),
             (orm.TaskRun, tr), (orm.TaskRunState, trs)]
    with engine.begin() as conn:
        for model, row in cases:
            table = model.__table__
            conn.execute(table.insert(), [{c: orm_value(v) for c, v in row.items()}])
            got = conn.execute(sa.text(f"SELECT {', '.join(row)} FROM {table.name} WHERE id = :id"),
                               {"id": str(row["id"])}).one()
            want = tuple(prefect_value(row[c]) for c in row)
            for col, g, w in zip(row, got, want):
                if g != w and not (isinstance(g, str) and isinstance(w, str) and json.loads(g) == json.loads(w)):
                    raise SystemExit(f"encoding differs for {table.name}.{col}: prefect wrote {g!r}, seeder {w!r}")
    engine.dispose()


if __name__ == "__main__":
    kind, path = sys.argv[1], sys.argv[2]
    n_flows, n_fr, n_tr, base_epoch = (int(x) for x in sys.argv[3:7])
    base = dt.datetime.fromtimestamp(base_epoch, UTC).replace(tzinfo=None)
    began = time.perf_counter()
    if kind == "check-prefect":
        check_prefect_encoding(path, base)
        n_fr = n_tr = 0
    else:
        seed(path, {"prefect": prefect_value, "warden": warden_value}[kind], n_flows, n_fr, n_tr, base)
    print("RESULT " + json.dumps({"flow_runs": n_fr, "task_runs": n_tr, "seconds": time.perf_counter() - began}), flush=True)
