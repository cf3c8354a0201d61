DROP TABLE worker;
DROP TABLE work_queue;
DROP TABLE work_pool;
