-- Concurrency: v2 limits, their leases (in the database so replicas sharing
-- it see the same leases), and v1 tag limits. Slot counts are stored as of
-- `updated`; readers decay them to the current time.

CREATE TABLE concurrency_limit_v2 (
    id                         uuid PRIMARY KEY,
    created                    timestamptz NOT NULL,
    updated                    timestamptz NOT NULL,
    active                     boolean NOT NULL DEFAULT true,
    name                       text COLLATE "C" NOT NULL,
    "limit"                    integer NOT NULL,
    active_slots               integer NOT NULL DEFAULT 0,
    denied_slots               integer NOT NULL DEFAULT 0,
    slot_decay_per_second      double precision NOT NULL DEFAULT 0,
    avg_slot_occupancy_seconds double precision NOT NULL DEFAULT 2.0,
    CONSTRAINT uq_concurrency_limit_v2__name UNIQUE (name)
);

-- resource_ids lists concurrency_limit_v2 ids (no foreign key: a lease
-- outlives a deleted limit harmlessly).
CREATE TABLE concurrency_lease (
    id           uuid PRIMARY KEY,
    created      timestamptz NOT NULL,
    expiration   timestamptz NOT NULL,
    resource_ids jsonb NOT NULL DEFAULT '[]',
    slots        integer NOT NULL,
    holder_type  text,
    holder_id    uuid
);
CREATE INDEX ix_concurrency_lease__expiration ON concurrency_lease (expiration);
CREATE INDEX ix_concurrency_lease__holder ON concurrency_lease (holder_id);
CREATE INDEX ix_concurrency_lease__resource_ids ON concurrency_lease USING gin (resource_ids);

CREATE TABLE concurrency_limit (
    id                uuid PRIMARY KEY,
    created           timestamptz NOT NULL,
    updated           timestamptz NOT NULL,
    tag               text COLLATE "C" NOT NULL,
    concurrency_limit integer NOT NULL,
    active_slots      jsonb NOT NULL DEFAULT '[]',
    CONSTRAINT uq_concurrency_limit__tag UNIQUE (tag)
);
