-- Warden's first schema. Column names follow Prefect's (id, created, updated, ...).
-- Times are timestamptz (microsecond precision, UTC). tags and labels are jsonb
-- (tags is matched with @>); variable and configuration values are json so
-- their text round-trips byte for byte, as on SQLite. Names use the "C"
-- collation so they sort and compare bytewise, exactly like SQLite.

CREATE TABLE flow (
    id      uuid PRIMARY KEY,
    created timestamptz NOT NULL,
    updated timestamptz NOT NULL,
    name    text COLLATE "C" NOT NULL,
    tags    jsonb NOT NULL DEFAULT '[]',
    labels  jsonb,
    CONSTRAINT uq_flow__name UNIQUE (name)
);
CREATE INDEX ix_flow__created ON flow (created);
CREATE INDEX ix_flow__updated ON flow (updated);
CREATE INDEX ix_flow__tags ON flow USING gin (tags);

CREATE TABLE variable (
    id      uuid PRIMARY KEY,
    created timestamptz NOT NULL,
    updated timestamptz NOT NULL,
    name    text COLLATE "C" NOT NULL,
    value   json NOT NULL,
    tags    jsonb NOT NULL DEFAULT '[]',
    CONSTRAINT uq_variable__name UNIQUE (name)
);
CREATE INDEX ix_variable__created ON variable (created);
CREATE INDEX ix_variable__updated ON variable (updated);
CREATE INDEX ix_variable__tags ON variable USING gin (tags);

CREATE TABLE csrf_token (
    id         uuid PRIMARY KEY,
    created    timestamptz NOT NULL,
    updated    timestamptz NOT NULL,
    token      text NOT NULL,
    client     text NOT NULL,
    expiration timestamptz NOT NULL,
    CONSTRAINT uq_csrf_token__client UNIQUE (client)
);
CREATE INDEX ix_csrf_token__expiration ON csrf_token (expiration);

CREATE TABLE configuration (
    id      uuid PRIMARY KEY,
    created timestamptz NOT NULL,
    updated timestamptz NOT NULL,
    key     text NOT NULL,
    value   json NOT NULL,
    CONSTRAINT uq_configuration__key UNIQUE (key)
);
