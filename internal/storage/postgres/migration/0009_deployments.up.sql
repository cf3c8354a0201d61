-- Deployments and their schedules. status/last_polled follow the polls of
-- the deployment's work queue (READY while polled recently; the foreman
-- service marks it NOT_READY). concurrency_limit_id points at the v2 limit
-- that carries the deployment's concurrency limit, as in Prefect.
CREATE TABLE deployment (
    id                         uuid PRIMARY KEY,
    created                    timestamptz NOT NULL,
    updated                    timestamptz NOT NULL,
    name                       text COLLATE "C" NOT NULL,
    version                    text,
    version_info               json,
    description                text,
    flow_id                    uuid NOT NULL REFERENCES flow (id) ON DELETE CASCADE,
    paused                     boolean NOT NULL DEFAULT false,
    status                     text NOT NULL DEFAULT 'NOT_READY',
    last_polled                timestamptz,
    work_queue_name            text,
    work_queue_id              uuid REFERENCES work_queue (id) ON DELETE SET NULL,
    concurrency_limit_id       uuid REFERENCES concurrency_limit_v2 (id) ON DELETE SET NULL,
    concurrency_options        json,
    job_variables              json NOT NULL DEFAULT '{}',
    parameters                 json NOT NULL DEFAULT '{}',
    parameter_openapi_schema   json,
    enforce_parameter_schema   boolean NOT NULL DEFAULT true,
    tags                       jsonb NOT NULL DEFAULT '[]',
    labels                     jsonb,
    path                       text,
    entrypoint                 text,
    pull_steps                 json,
    storage_document_id        uuid,
    infrastructure_document_id uuid,
    created_by                 json,
    updated_by                 json,
    CONSTRAINT uq_deployment__flow_id_name UNIQUE (flow_id, name)
);
CREATE INDEX ix_deployment__created ON deployment (created);
CREATE INDEX ix_deployment__work_queue_id ON deployment (work_queue_id);
CREATE INDEX ix_deployment__work_queue_name ON deployment (work_queue_name);
CREATE INDEX ix_deployment__paused ON deployment (paused);
CREATE INDEX ix_deployment__name ON deployment (name);

CREATE TABLE deployment_schedule (
    id                 uuid PRIMARY KEY,
    created            timestamptz NOT NULL,
    updated            timestamptz NOT NULL,
    deployment_id      uuid NOT NULL REFERENCES deployment (id) ON DELETE CASCADE,
    schedule           json NOT NULL,
    active             boolean NOT NULL DEFAULT true,
    max_scheduled_runs bigint,
    parameters         json NOT NULL DEFAULT '{}',
    slug               text
);
CREATE UNIQUE INDEX ix_deployment_schedule__deployment_id__slug ON deployment_schedule (deployment_id, slug);
CREATE INDEX ix_deployment_schedule__slug ON deployment_schedule (slug);

-- The scheduler and the worker polls look for a deployment's future
-- scheduled runs, and the late-runs service for overdue ones.
CREATE INDEX ix_flow_run__state_type_next_scheduled ON flow_run (state_type, next_scheduled_start_time);
