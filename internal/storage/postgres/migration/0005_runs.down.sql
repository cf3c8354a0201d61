DROP TABLE IF EXISTS task_run_state_cache;
DROP TABLE IF EXISTS task_run_state;
DROP TABLE IF EXISTS flow_run_state;
ALTER TABLE IF EXISTS flow_run DROP CONSTRAINT IF EXISTS fk_flow_run__parent_task_run_id;
DROP TABLE IF EXISTS task_run;
DROP TABLE IF EXISTS flow_run;
