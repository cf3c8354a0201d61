-- Flow runs, task runs and their states. The run rows carry Prefect's
-- denormalised copy of the current state (state_id, state_type, state_name,
-- state_timestamp) that orchestration writes in the same transaction as the
-- state row. total_run_time is in microseconds. Deleting a flow deletes its
-- runs; deleting a run deletes its states and task runs. Free-form JSON
-- (parameters, context, state data, ...) is json so it round-trips byte for
-- byte; tags, labels and created_by are jsonb for the filters.

CREATE TABLE flow_run (
    id                         uuid PRIMARY KEY,
    created                    timestamptz NOT NULL,
    updated                    timestamptz NOT NULL,
    name                       text COLLATE "C" NOT NULL,
    flow_id                    uuid NOT NULL REFERENCES flow (id) ON DELETE CASCADE,
    state_id                   uuid,
    state_type                 text,
    state_name                 text,
    state_timestamp            timestamptz,
    run_count                  integer NOT NULL DEFAULT 0,
    expected_start_time        timestamptz,
    next_scheduled_start_time  timestamptz,
    start_time                 timestamptz,
    end_time                   timestamptz,
    total_run_time             bigint NOT NULL DEFAULT 0,
    deployment_id              uuid,
    deployment_version         text,
    work_queue_id              uuid,
    work_queue_name            text,
    flow_version               text,
    parameters                 json NOT NULL DEFAULT '{}',
    idempotency_key            text,
    context                    json NOT NULL DEFAULT '{}',
    empirical_policy           json NOT NULL DEFAULT '{}',
    tags                       jsonb NOT NULL DEFAULT '[]',
    labels                     jsonb,
    created_by                 jsonb,
    infrastructure_pid         text,
    infrastructure_document_id uuid,
    job_variables              json,
    parent_task_run_id         uuid,
    auto_scheduled             boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX uq_flow_run__flow_id_idempotency_key ON flow_run (flow_id, idempotency_key);
CREATE INDEX ix_flow_run__flow_id ON flow_run (flow_id);
CREATE INDEX ix_flow_run__name ON flow_run (name);
CREATE INDEX ix_flow_run__tags ON flow_run USING gin (tags);
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
    id            uuid PRIMARY KEY,
    created       timestamptz NOT NULL,
    updated       timestamptz NOT NULL,
    flow_run_id   uuid NOT NULL REFERENCES flow_run (id) ON DELETE CASCADE,
    type          text NOT NULL,
    timestamp     timestamptz NOT NULL,
    name          text COLLATE "C" NOT NULL,
    message       text,
    state_details json NOT NULL DEFAULT '{}',
    data          json
);
CREATE UNIQUE INDEX uq_flow_run_state__flow_run_id_timestamp ON flow_run_state (flow_run_id, timestamp);

CREATE TABLE task_run (
    id                        uuid PRIMARY KEY,
    created                   timestamptz NOT NULL,
    updated                   timestamptz NOT NULL,
    name                      text COLLATE "C" NOT NULL,
    flow_run_id               uuid REFERENCES flow_run (id) ON DELETE CASCADE,
    task_key                  text NOT NULL,
    dynamic_key               text NOT NULL,
    cache_key                 text,
    cache_expiration          timestamptz,
    task_version              text,
    flow_run_run_count        integer NOT NULL DEFAULT 0,
    empirical_policy          json NOT NULL DEFAULT '{}',
    task_inputs               json NOT NULL DEFAULT '{}',
    tags                      jsonb NOT NULL DEFAULT '[]',
    labels                    jsonb,
    state_id                  uuid,
    state_type                text,
    state_name                text,
    state_timestamp           timestamptz,
    run_count                 integer NOT NULL DEFAULT 0,
    expected_start_time       timestamptz,
    next_scheduled_start_time timestamptz,
    start_time                timestamptz,
    end_time                  timestamptz,
    total_run_time            bigint NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX uq_task_run__flow_run_id_task_key_dynamic_key ON task_run (flow_run_id, task_key, dynamic_key);
-- Prefect dedupes runs without a flow run in application code; a partial
-- unique index makes that race-free.
CREATE UNIQUE INDEX uq_task_run__task_key_dynamic_key_no_flow_run ON task_run (task_key, dynamic_key) WHERE flow_run_id IS NULL;
CREATE INDEX ix_task_run__name ON task_run (name);
CREATE INDEX ix_task_run__tags ON task_run USING gin (tags);
CREATE INDEX ix_task_run__flow_run_id ON task_run (flow_run_id);
CREATE INDEX ix_task_run__state_id ON task_run (state_id);
CREATE INDEX ix_task_run__state_type ON task_run (state_type);
CREATE INDEX ix_task_run__state_name ON task_run (state_name);
CREATE INDEX ix_task_run__state_timestamp ON task_run (state_timestamp);
CREATE INDEX ix_task_run__expected_start_time ON task_run (expected_start_time);
CREATE INDEX ix_task_run__next_scheduled_start_time ON task_run (next_scheduled_start_time);
CREATE INDEX ix_task_run__start_time ON task_run (start_time);
CREATE INDEX ix_task_run__end_time ON task_run (end_time);

ALTER TABLE flow_run ADD CONSTRAINT fk_flow_run__parent_task_run_id
    FOREIGN KEY (parent_task_run_id) REFERENCES task_run (id) ON DELETE SET NULL;

CREATE TABLE task_run_state (
    id            uuid PRIMARY KEY,
    created       timestamptz NOT NULL,
    updated       timestamptz NOT NULL,
    task_run_id   uuid NOT NULL REFERENCES task_run (id) ON DELETE CASCADE,
    type          text NOT NULL,
    timestamp     timestamptz NOT NULL,
    name          text COLLATE "C" NOT NULL,
    message       text,
    state_details json NOT NULL DEFAULT '{}',
    data          json
);
CREATE UNIQUE INDEX uq_task_run_state__task_run_id_timestamp ON task_run_state (task_run_id, timestamp);

-- No foreign key to the state, as in Prefect: a cache entry outlives its run.
CREATE TABLE task_run_state_cache (
    id                uuid PRIMARY KEY,
    created           timestamptz NOT NULL,
    updated           timestamptz NOT NULL,
    cache_key         text NOT NULL,
    cache_expiration  timestamptz,
    task_run_state_id uuid NOT NULL
);
CREATE INDEX ix_task_run_state_cache__cache_key_created ON task_run_state_cache (cache_key, created);
