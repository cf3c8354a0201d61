DROP TABLE IF EXISTS task_run_state_cache;
DROP TABLE IF EXISTS task_run_state;
DROP TABLE IF EXISTS flow_run_state;
-- flow_run and task_run reference each other; drop the references first.
UPDATE flow_run SET parent_task_run_id = NULL;
DROP TABLE IF EXISTS task_run;
DROP TABLE IF EXISTS flow_run;
