-- Work pools, their queues and workers. Statuses are computed on read from
-- is_paused, last_polled and worker.offline_after (the heartbeat time plus
-- the inactivity allowance), so nothing has to flip them.
CREATE TABLE work_pool (
    id                    TEXT PRIMARY KEY NOT NULL,
    created               TEXT NOT NULL,
    updated               TEXT NOT NULL,
    name                  TEXT NOT NULL,
    description           TEXT,
    type                  TEXT NOT NULL,
    base_job_template     TEXT NOT NULL DEFAULT '{}',
    is_paused             INTEGER NOT NULL DEFAULT 0,
    concurrency_limit     INTEGER,
    default_queue_id      TEXT,
    storage_configuration TEXT NOT NULL DEFAULT '{}',
    CONSTRAINT uq_work_pool__name UNIQUE (name)
);
CREATE INDEX ix_work_pool__type ON work_pool (type);

CREATE TABLE work_queue (
    id                TEXT PRIMARY KEY NOT NULL,
    created           TEXT NOT NULL,
    updated           TEXT NOT NULL,
    name              TEXT NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    is_paused         INTEGER NOT NULL DEFAULT 0,
    concurrency_limit INTEGER,
    priority          INTEGER NOT NULL,
    filter            TEXT,
    last_polled       TEXT,
    work_pool_id      TEXT NOT NULL REFERENCES work_pool (id) ON DELETE CASCADE,
    CONSTRAINT uq_work_queue__work_pool_id_name UNIQUE (work_pool_id, name)
);
CREATE INDEX ix_work_queue__work_pool_id_priority ON work_queue (work_pool_id, priority);

CREATE TABLE worker (
    id                         TEXT PRIMARY KEY NOT NULL,
    created                    TEXT NOT NULL,
    updated                    TEXT NOT NULL,
    name                       TEXT NOT NULL,
    work_pool_id               TEXT NOT NULL REFERENCES work_pool (id) ON DELETE CASCADE,
    last_heartbeat_time        TEXT NOT NULL,
    heartbeat_interval_seconds INTEGER,
    offline_after              TEXT NOT NULL,
    CONSTRAINT uq_worker__work_pool_id_name UNIQUE (work_pool_id, name)
);
CREATE INDEX ix_worker__work_pool_id_last_heartbeat_time ON worker (work_pool_id, last_heartbeat_time);
