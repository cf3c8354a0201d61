-- Flow run inputs: key/value rows of a flow run (pause/resume run input,
-- send_input/receive_input). One row per (flow_run_id, key); deleting the
-- run deletes its inputs.

CREATE TABLE flow_run_input (
    id          TEXT PRIMARY KEY NOT NULL,
    created     TEXT NOT NULL,
    updated     TEXT NOT NULL,
    flow_run_id TEXT NOT NULL REFERENCES flow_run (id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    sender      TEXT
);
CREATE UNIQUE INDEX uq_flow_run_input__flow_run_id_key ON flow_run_input (flow_run_id, key);
CREATE INDEX ix_flow_run_input__updated ON flow_run_input (updated);
