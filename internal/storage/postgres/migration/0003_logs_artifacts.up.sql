-- Logs and artifacts. flow_run_id/task_run_id are plain ids without foreign
-- keys: logs and artifacts may arrive before (or outlive) their runs. Keys
-- and types use the "C" collation so they sort bytewise, as on SQLite.
-- Artifact data keeps its JSON text as sent (json, not jsonb).

CREATE TABLE log (
    id          uuid PRIMARY KEY,
    created     timestamptz NOT NULL,
    updated     timestamptz NOT NULL,
    name        text NOT NULL,
    level       bigint NOT NULL,
    flow_run_id uuid,
    task_run_id uuid,
    message     text NOT NULL,
    timestamp   timestamptz NOT NULL
);
CREATE INDEX ix_log__flow_run_id_timestamp ON log (flow_run_id, timestamp);
CREATE INDEX ix_log__task_run_id ON log (task_run_id);
CREATE INDEX ix_log__timestamp ON log (timestamp);
CREATE INDEX ix_log__level ON log (level);

CREATE TABLE artifact (
    id          uuid PRIMARY KEY,
    created     timestamptz NOT NULL,
    updated     timestamptz NOT NULL,
    key         text COLLATE "C",
    task_run_id uuid,
    flow_run_id uuid,
    type        text COLLATE "C",
    data        json,
    description text,
    metadata_   jsonb
);
CREATE INDEX ix_artifact__key_created_desc ON artifact (key, created DESC);
CREATE INDEX ix_artifact__flow_run_id ON artifact (flow_run_id);
CREATE INDEX ix_artifact__task_run_id ON artifact (task_run_id);
CREATE INDEX ix_artifact__updated ON artifact (updated);

CREATE TABLE artifact_collection (
    id          uuid PRIMARY KEY,
    created     timestamptz NOT NULL,
    updated     timestamptz NOT NULL,
    key         text COLLATE "C" NOT NULL,
    latest_id   uuid NOT NULL,
    task_run_id uuid,
    flow_run_id uuid,
    type        text COLLATE "C",
    data        json,
    description text,
    metadata_   jsonb,
    CONSTRAINT uq_artifact_collection__key UNIQUE (key)
);
CREATE INDEX ix_artifact_collection__latest_id ON artifact_collection (latest_id);
CREATE INDEX ix_artifact_collection__updated ON artifact_collection (updated);
