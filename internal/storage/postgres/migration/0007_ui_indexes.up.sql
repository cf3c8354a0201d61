-- The UI's "next run" of each flow (/ui/flows/next-runs) looks up, per flow,
-- its scheduled runs by next start time.
CREATE INDEX ix_flow_run__flow_id_state_type_next_scheduled_start_time
    ON flow_run (flow_id, state_type, next_scheduled_start_time);
