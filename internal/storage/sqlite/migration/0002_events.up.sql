-- Events, as Prefect's `events` and `event_resources` tables. An events row
-- keeps the whole event (resource, related and payload as JSON text);
-- event_resources holds one row per resource of an event (the primary one
-- with resource_role '', then each related one), with the labels other than
-- id and role in `resource`, for the resource/related/any_resource criteria.

CREATE TABLE events (
    id                   TEXT PRIMARY KEY NOT NULL,
    created              TEXT NOT NULL,
    updated              TEXT NOT NULL,
    occurred             TEXT NOT NULL,
    event                TEXT NOT NULL,
    resource_id          TEXT NOT NULL,
    resource             TEXT NOT NULL,
    related_resource_ids TEXT NOT NULL DEFAULT '[]',
    related              TEXT NOT NULL DEFAULT '[]',
    payload              TEXT NOT NULL DEFAULT '{}',
    received             TEXT NOT NULL,
    recorded             TEXT NOT NULL,
    follows              TEXT
);
CREATE INDEX ix_events__occurred_id ON events (occurred, id);
CREATE INDEX ix_events__event__occurred ON events (event, occurred);
CREATE INDEX ix_events__resource_id__occurred ON events (resource_id, occurred);

CREATE TABLE event_resources (
    id            TEXT PRIMARY KEY NOT NULL,
    created       TEXT NOT NULL,
    updated       TEXT NOT NULL,
    occurred      TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    resource_role TEXT NOT NULL,
    resource      TEXT NOT NULL,
    event_id      TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE
);
CREATE INDEX ix_event_resources__resource_id__occurred ON event_resources (resource_id, occurred);
CREATE INDEX ix_event_resources__occurred ON event_resources (occurred);
CREATE INDEX ix_event_resources__event_id ON event_resources (event_id);
