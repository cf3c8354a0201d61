DROP TABLE concurrency_limit;
DROP TABLE concurrency_lease;
DROP TABLE concurrency_limit_v2;
