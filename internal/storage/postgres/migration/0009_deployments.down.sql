DROP INDEX IF EXISTS ix_flow_run__state_type_next_scheduled;
DROP TABLE IF EXISTS deployment_schedule;
DROP TABLE IF EXISTS deployment;
