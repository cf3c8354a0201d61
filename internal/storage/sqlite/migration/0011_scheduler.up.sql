-- The scheduler counts, per deployment schedule, the future auto-scheduled
-- runs it created (created_by.id is the schedule's id). A partial index
-- keeps that lookup on the few SCHEDULED auto-scheduled runs.
CREATE INDEX ix_flow_run__scheduler ON flow_run (deployment_id, json_extract(created_by, '$.id'), next_scheduled_start_time)
    WHERE auto_scheduled = 1 AND state_type = 'SCHEDULED';
