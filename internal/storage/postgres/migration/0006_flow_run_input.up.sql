-- Flow run inputs: key/value rows of a flow run (pause/resume run input,
-- send_input/receive_input). One row per (flow_run_id, key); deleting the
-- run deletes its inputs. key is COLLATE "C" so LIKE 'prefix%' can use the
-- unique index.

CREATE TABLE flow_run_input (
    id          uuid PRIMARY KEY,
    created     timestamptz NOT NULL,
    updated     timestamptz NOT NULL,
    flow_run_id uuid NOT NULL REFERENCES flow_run (id) ON DELETE CASCADE,
    key         text COLLATE "C" NOT NULL,
    value       text NOT NULL,
    sender      text
);
CREATE UNIQUE INDEX uq_flow_run_input__flow_run_id_key ON flow_run_input (flow_run_id, key);
CREATE INDEX ix_flow_run_input__updated ON flow_run_input (updated);
