-- Logs and artifacts. flow_run_id/task_run_id are plain ids without foreign
-- keys: logs and artifacts may arrive before (or outlive) their runs.

CREATE TABLE log (
    id          TEXT PRIMARY KEY NOT NULL,
    created     TEXT NOT NULL,
    updated     TEXT NOT NULL,
    name        TEXT NOT NULL,
    level       INTEGER NOT NULL,
    flow_run_id TEXT,
    task_run_id TEXT,
    message     TEXT NOT NULL,
    timestamp   TEXT NOT NULL
);
CREATE INDEX ix_log__flow_run_id_timestamp ON log (flow_run_id, timestamp);
CREATE INDEX ix_log__task_run_id ON log (task_run_id);
CREATE INDEX ix_log__timestamp ON log (timestamp);
CREATE INDEX ix_log__level ON log (level);

CREATE TABLE artifact (
    id          TEXT PRIMARY KEY NOT NULL,
    created     TEXT NOT NULL,
    updated     TEXT NOT NULL,
    key         TEXT,
    task_run_id TEXT,
    flow_run_id TEXT,
    type        TEXT,
    data        TEXT,
    description TEXT,
    metadata_   TEXT
);
CREATE INDEX ix_artifact__key_created_desc ON artifact (key, created DESC);
CREATE INDEX ix_artifact__flow_run_id ON artifact (flow_run_id);
CREATE INDEX ix_artifact__task_run_id ON artifact (task_run_id);
CREATE INDEX ix_artifact__updated ON artifact (updated);

CREATE TABLE artifact_collection (
    id          TEXT PRIMARY KEY NOT NULL,
    created     TEXT NOT NULL,
    updated     TEXT NOT NULL,
    key         TEXT NOT NULL,
    latest_id   TEXT NOT NULL,
    task_run_id TEXT,
    flow_run_id TEXT,
    type        TEXT,
    data        TEXT,
    description TEXT,
    metadata_   TEXT,
    CONSTRAINT uq_artifact_collection__key UNIQUE (key)
);
CREATE INDEX ix_artifact_collection__latest_id ON artifact_collection (latest_id);
CREATE INDEX ix_artifact_collection__updated ON artifact_collection (updated);
