DROP TABLE IF EXISTS flow_run_input;
