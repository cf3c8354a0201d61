-- Warden's first schema. Column names follow Prefect's (id, created, updated, ...).
-- Times are TEXT in the fixed-width form 2006-01-02T15:04:05.000000Z (UTC),
-- so text order is time order. JSON columns hold JSON text.

CREATE TABLE flow (
    id      TEXT PRIMARY KEY NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    name    TEXT NOT NULL,
    tags    TEXT NOT NULL DEFAULT '[]',
    labels  TEXT,
    CONSTRAINT uq_flow__name UNIQUE (name)
);
CREATE INDEX ix_flow__created ON flow (created);
CREATE INDEX ix_flow__updated ON flow (updated);

CREATE TABLE variable (
    id      TEXT PRIMARY KEY NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    name    TEXT NOT NULL,
    value   TEXT NOT NULL,
    tags    TEXT NOT NULL DEFAULT '[]',
    CONSTRAINT uq_variable__name UNIQUE (name)
);
CREATE INDEX ix_variable__created ON variable (created);
CREATE INDEX ix_variable__updated ON variable (updated);

CREATE TABLE csrf_token (
    id         TEXT PRIMARY KEY NOT NULL,
    created    TEXT NOT NULL,
    updated    TEXT NOT NULL,
    token      TEXT NOT NULL,
    client     TEXT NOT NULL,
    expiration TEXT NOT NULL,
    CONSTRAINT uq_csrf_token__client UNIQUE (client)
);
CREATE INDEX ix_csrf_token__expiration ON csrf_token (expiration);

CREATE TABLE configuration (
    id      TEXT PRIMARY KEY NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    CONSTRAINT uq_configuration__key UNIQUE (key)
);
