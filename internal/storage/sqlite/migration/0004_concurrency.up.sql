-- Concurrency: v2 limits, their leases (in the database so every process
-- sharing it sees them), and v1 tag limits. Slot counts are stored as of
-- `updated`; readers decay them to the current time.

CREATE TABLE concurrency_limit_v2 (
    id                         TEXT PRIMARY KEY NOT NULL,
    created                    TEXT NOT NULL,
    updated                    TEXT NOT NULL,
    active                     INTEGER NOT NULL DEFAULT 1,
    name                       TEXT NOT NULL,
    "limit"                    INTEGER NOT NULL,
    active_slots               INTEGER NOT NULL DEFAULT 0,
    denied_slots               INTEGER NOT NULL DEFAULT 0,
    slot_decay_per_second      REAL NOT NULL DEFAULT 0,
    avg_slot_occupancy_seconds REAL NOT NULL DEFAULT 2.0,
    CONSTRAINT uq_concurrency_limit_v2__name UNIQUE (name)
);

-- resource_ids is a JSON list of concurrency_limit_v2 ids (no foreign key:
-- a lease outlives a deleted limit harmlessly).
CREATE TABLE concurrency_lease (
    id           TEXT PRIMARY KEY NOT NULL,
    created      TEXT NOT NULL,
    expiration   TEXT NOT NULL,
    resource_ids TEXT NOT NULL DEFAULT '[]',
    slots        INTEGER NOT NULL,
    holder_type  TEXT,
    holder_id    TEXT
);
CREATE INDEX ix_concurrency_lease__expiration ON concurrency_lease (expiration);
CREATE INDEX ix_concurrency_lease__holder ON concurrency_lease (holder_id);

CREATE TABLE concurrency_limit (
    id                TEXT PRIMARY KEY NOT NULL,
    created           TEXT NOT NULL,
    updated           TEXT NOT NULL,
    tag               TEXT NOT NULL,
    concurrency_limit INTEGER NOT NULL,
    active_slots      TEXT NOT NULL DEFAULT '[]',
    CONSTRAINT uq_concurrency_limit__tag UNIQUE (tag)
);
