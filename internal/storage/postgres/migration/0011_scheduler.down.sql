DROP INDEX IF EXISTS ix_flow_run__scheduler;
