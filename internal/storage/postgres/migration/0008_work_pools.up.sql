-- Work pools, their queues and workers. Statuses are computed on read from
-- is_paused, last_polled and worker.offline_after (the heartbeat time plus
-- the inactivity allowance), so nothing has to flip them.
CREATE TABLE work_pool (
    id                    uuid PRIMARY KEY,
    created               timestamptz NOT NULL,
    updated               timestamptz NOT NULL,
    name                  text COLLATE "C" NOT NULL,
    description           text,
    type                  text NOT NULL,
    base_job_template     json NOT NULL DEFAULT '{}',
    is_paused             boolean NOT NULL DEFAULT false,
    concurrency_limit     bigint,
    default_queue_id      uuid,
    storage_configuration json NOT NULL DEFAULT '{}',
    CONSTRAINT uq_work_pool__name UNIQUE (name)
);
CREATE INDEX ix_work_pool__type ON work_pool (type);

CREATE TABLE work_queue (
    id                uuid PRIMARY KEY,
    created           timestamptz NOT NULL,
    updated           timestamptz NOT NULL,
    name              text COLLATE "C" NOT NULL,
    description       text NOT NULL DEFAULT '',
    is_paused         boolean NOT NULL DEFAULT false,
    concurrency_limit bigint,
    priority          bigint NOT NULL,
    filter            jsonb,
    last_polled       timestamptz,
    work_pool_id      uuid NOT NULL REFERENCES work_pool (id) ON DELETE CASCADE,
    CONSTRAINT uq_work_queue__work_pool_id_name UNIQUE (work_pool_id, name)
);
CREATE INDEX ix_work_queue__work_pool_id_priority ON work_queue (work_pool_id, priority);

CREATE TABLE worker (
    id                         uuid PRIMARY KEY,
    created                    timestamptz NOT NULL,
    updated                    timestamptz NOT NULL,
    name                       text COLLATE "C" NOT NULL,
    work_pool_id               uuid NOT NULL REFERENCES work_pool (id) ON DELETE CASCADE,
    last_heartbeat_time        timestamptz NOT NULL,
    heartbeat_interval_seconds bigint,
    offline_after              timestamptz NOT NULL,
    CONSTRAINT uq_worker__work_pool_id_name UNIQUE (work_pool_id, name)
);
CREATE INDEX ix_worker__work_pool_id_last_heartbeat_time ON worker (work_pool_id, last_heartbeat_time);
