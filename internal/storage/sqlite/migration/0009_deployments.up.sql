-- Deployments and their schedules. status/last_polled follow the polls of
-- the deployment's work queue (READY while polled recently; the foreman
-- service marks it NOT_READY). concurrency_limit_id points at the v2 limit
-- that carries the deployment's concurrency limit, as in Prefect.
CREATE TABLE deployment (
    id                         TEXT PRIMARY KEY NOT NULL,
    created                    TEXT NOT NULL,
    updated                    TEXT NOT NULL,
    name                       TEXT NOT NULL,
    version                    TEXT,
    version_info               TEXT,
    description                TEXT,
    flow_id                    TEXT NOT NULL REFERENCES flow (id) ON DELETE CASCADE,
    paused                     INTEGER NOT NULL DEFAULT 0,
    status                     TEXT NOT NULL DEFAULT 'NOT_READY',
    last_polled                TEXT,
    work_queue_name            TEXT,
    work_queue_id              TEXT REFERENCES work_queue (id) ON DELETE SET NULL,
    concurrency_limit_id       TEXT REFERENCES concurrency_limit_v2 (id) ON DELETE SET NULL,
    concurrency_options        TEXT,
    job_variables              TEXT NOT NULL DEFAULT '{}',
    parameters                 TEXT NOT NULL DEFAULT '{}',
    parameter_openapi_schema   TEXT,
    enforce_parameter_schema   INTEGER NOT NULL DEFAULT 1,
    tags                       TEXT NOT NULL DEFAULT '[]',
    labels                     TEXT,
    path                       TEXT,
    entrypoint                 TEXT,
    pull_steps                 TEXT,
    storage_document_id        TEXT,
    infrastructure_document_id TEXT,
    created_by                 TEXT,
    updated_by                 TEXT,
    CONSTRAINT uq_deployment__flow_id_name UNIQUE (flow_id, name)
);
CREATE INDEX ix_deployment__created ON deployment (created);
CREATE INDEX ix_deployment__work_queue_id ON deployment (work_queue_id);
CREATE INDEX ix_deployment__work_queue_name ON deployment (work_queue_name);
CREATE INDEX ix_deployment__paused ON deployment (paused);
CREATE INDEX ix_deployment__name ON deployment (name);

CREATE TABLE deployment_schedule (
    id                 TEXT PRIMARY KEY NOT NULL,
    created            TEXT NOT NULL,
    updated            TEXT NOT NULL,
    deployment_id      TEXT NOT NULL REFERENCES deployment (id) ON DELETE CASCADE,
    schedule           TEXT NOT NULL,
    active             INTEGER NOT NULL DEFAULT 1,
    max_scheduled_runs INTEGER,
    parameters         TEXT NOT NULL DEFAULT '{}',
    slug               TEXT
);
CREATE UNIQUE INDEX ix_deployment_schedule__deployment_id__slug ON deployment_schedule (deployment_id, slug);
CREATE INDEX ix_deployment_schedule__slug ON deployment_schedule (slug);

-- The scheduler and the worker polls look for a deployment's future
-- scheduled runs, and the late-runs service for overdue ones.
CREATE INDEX ix_flow_run__state_type_next_scheduled ON flow_run (state_type, next_scheduled_start_time);
