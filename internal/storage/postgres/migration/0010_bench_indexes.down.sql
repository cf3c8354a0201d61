DROP INDEX IF EXISTS ix_task_run__state_type_start_time;
