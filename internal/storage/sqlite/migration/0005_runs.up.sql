-- Flow runs, task runs and their states. The run rows carry Prefect's
-- denormalised copy of the current state (state_id, state_type, state_name,
-- state_timestamp) that orchestration writes in the same transaction as the
-- state row. total_run_time is in microseconds. Deleting a flow deletes its
-- runs; deleting a run deletes its states and task runs.

CREATE TABLE flow_run (
    id                         TEXT PRIMARY KEY NOT NULL,
    created                    TEXT NOT NULL,
    updated                    TEXT NOT NULL,
    name                       TEXT NOT NULL,
    flow_id                    TEXT NOT NULL REFERENCES flow (id) ON DELETE CASCADE,
    state_id                   TEXT,
    state_type                 TEXT,
    state_name                 TEXT,
    state_timestamp            TEXT,
    run_count                  INTEGER NOT NULL DEFAULT 0,
    expected_start_time        TEXT,
    next_scheduled_start_time  TEXT,
    start_time                 TEXT,
    end_time                   TEXT,
    total_run_time             INTEGER NOT NULL DEFAULT 0,
    deployment_id              TEXT,
    deployment_version         TEXT,
    work_queue_id              TEXT,
    work_queue_name            TEXT,
    flow_version               TEXT,
    parameters                 TEXT NOT NULL DEFAULT '{}',
    idempotency_key            TEXT,
    context                    TEXT NOT NULL DEFAULT '{}',
    empirical_policy           TEXT NOT NULL DEFAULT '{}',
    tags                       TEXT NOT NULL DEFAULT '[]',
    labels                     TEXT,
    created_by                 TEXT,
    infrastructure_pid         TEXT,
    infrastructure_document_id TEXT,
    job_variables              TEXT,
    parent_task_run_id         TEXT REFERENCES task_run (id) ON DELETE SET NULL,
    auto_scheduled             INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX uq_flow_run__flow_id_idempotency_key ON flow_run (flow_id, idempotency_key);
CREATE INDEX ix_flow_run__flow_id ON flow_run (flow_id);
CREATE INDEX ix_flow_run__name ON flow_run (name);
CREATE INDEX ix_flow_run__state_id ON flow_run (state_id);
CREATE INDEX ix_flow_run__state_type ON flow_run (state_type);
CREATE INDEX ix_flow_run__state_name ON flow_run (state_name);
CREATE INDEX ix_flow_run__state_timestamp ON flow_run (state_timestamp);
CREATE INDEX ix_flow_run__deployment_id ON flow_run (deployment_id);
CREATE INDEX ix_flow_run__work_queue_name ON flow_run (work_queue_name);
CREATE INDEX ix_flow_run__flow_version ON flow_run (flow_version);
CREATE INDEX ix_flow_run__parent_task_run_id ON flow_run (parent_task_run_id);
CREATE INDEX ix_flow_run__expected_start_time ON flow_run (expected_start_time);
CREATE INDEX ix_flow_run__next_scheduled_start_time ON flow_run (next_scheduled_start_time);
CREATE INDEX ix_flow_run__start_time ON flow_run (start_time);
CREATE INDEX ix_flow_run__end_time ON flow_run (end_time);
CREATE INDEX ix_flow_run__coalesce_start_time_expected_start_time ON flow_run (COALESCE(start_time, expected_start_time));
CREATE INDEX ix_flow_run__state_type_coalesce_start_time ON flow_run (state_type, COALESCE(start_time, expected_start_time));

CREATE TABLE flow_run_state (
    id            TEXT PRIMARY KEY NOT NULL,
    created       TEXT NOT NULL,
    updated       TEXT NOT NULL,
    flow_run_id   TEXT NOT NULL REFERENCES flow_run (id) ON DELETE CASCADE,
    type          TEXT NOT NULL,
    timestamp     TEXT NOT NULL,
    name          TEXT NOT NULL,
    message       TEXT,
    state_details TEXT NOT NULL DEFAULT '{}',
    data          TEXT
);
CREATE UNIQUE INDEX uq_flow_run_state__flow_run_id_timestamp ON flow_run_state (flow_run_id, timestamp);

CREATE TABLE task_run (
    id                        TEXT PRIMARY KEY NOT NULL,
    created                   TEXT NOT NULL,
    updated                   TEXT NOT NULL,
    name                      TEXT NOT NULL,
    flow_run_id               TEXT REFERENCES flow_run (id) ON DELETE CASCADE,
    task_key                  TEXT NOT NULL,
    dynamic_key               TEXT NOT NULL,
    cache_key                 TEXT,
    cache_expiration          TEXT,
    task_version              TEXT,
    flow_run_run_count        INTEGER NOT NULL DEFAULT 0,
    empirical_policy          TEXT NOT NULL DEFAULT '{}',
    task_inputs               TEXT NOT NULL DEFAULT '{}',
    tags                      TEXT NOT NULL DEFAULT '[]',
    labels                    TEXT,
    state_id                  TEXT,
    state_type                TEXT,
    state_name                TEXT,
    state_timestamp           TEXT,
    run_count                 INTEGER NOT NULL DEFAULT 0,
    expected_start_time       TEXT,
    next_scheduled_start_time TEXT,
    start_time                TEXT,
    end_time                  TEXT,
    total_run_time            INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX uq_task_run__flow_run_id_task_key_dynamic_key ON task_run (flow_run_id, task_key, dynamic_key);
-- Prefect dedupes runs without a flow run in application code; a partial
-- unique index makes that race-free.
CREATE UNIQUE INDEX uq_task_run__task_key_dynamic_key_no_flow_run ON task_run (task_key, dynamic_key) WHERE flow_run_id IS NULL;
CREATE INDEX ix_task_run__flow_run_id ON task_run (flow_run_id);
CREATE INDEX ix_task_run__name ON task_run (name);
CREATE INDEX ix_task_run__state_id ON task_run (state_id);
CREATE INDEX ix_task_run__state_type ON task_run (state_type);
CREATE INDEX ix_task_run__state_name ON task_run (state_name);
CREATE INDEX ix_task_run__state_timestamp ON task_run (state_timestamp);
CREATE INDEX ix_task_run__expected_start_time ON task_run (expected_start_time);
CREATE INDEX ix_task_run__next_scheduled_start_time ON task_run (next_scheduled_start_time);
CREATE INDEX ix_task_run__start_time ON task_run (start_time);
CREATE INDEX ix_task_run__end_time ON task_run (end_time);

CREATE TABLE task_run_state (
    id            TEXT PRIMARY KEY NOT NULL,
    created       TEXT NOT NULL,
    updated       TEXT NOT NULL,
    task_run_id   TEXT NOT NULL REFERENCES task_run (id) ON DELETE CASCADE,
    type          TEXT NOT NULL,
    timestamp     TEXT NOT NULL,
    name          TEXT NOT NULL,
    message       TEXT,
    state_details TEXT NOT NULL DEFAULT '{}',
    data          TEXT
);
CREATE UNIQUE INDEX uq_task_run_state__task_run_id_timestamp ON task_run_state (task_run_id, timestamp);

-- No foreign key to the state, as in Prefect: a cache entry outlives its run.
CREATE TABLE task_run_state_cache (
    id                TEXT PRIMARY KEY NOT NULL,
    created           TEXT NOT NULL,
    updated           TEXT NOT NULL,
    cache_key         TEXT NOT NULL,
    cache_expiration  TEXT,
    task_run_state_id TEXT NOT NULL
);
CREATE INDEX ix_task_run_state_cache__cache_key_created ON task_run_state_cache (cache_key, created);
