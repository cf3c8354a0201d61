-- Events, as Prefect's `events` and `event_resources` tables. An events row
-- keeps the whole event; resource, related and payload are json (not jsonb) so
-- their text round-trips exactly, as on SQLite. event_resources holds one row
-- per resource of an event (the primary one with resource_role '', then each
-- related one), with the labels other than id and role in `resource` (jsonb),
-- for the resource/related/any_resource criteria. Text columns use the "C"
-- collation so they compare and sort bytewise, like SQLite.

CREATE TABLE events (
    id                   uuid PRIMARY KEY,
    created              timestamptz NOT NULL,
    updated              timestamptz NOT NULL,
    occurred             timestamptz NOT NULL,
    event                text COLLATE "C" NOT NULL,
    resource_id          text COLLATE "C" NOT NULL,
    resource             json NOT NULL,
    related_resource_ids jsonb NOT NULL DEFAULT '[]',
    related              json NOT NULL DEFAULT '[]',
    payload              json NOT NULL DEFAULT '{}',
    received             timestamptz NOT NULL,
    recorded             timestamptz NOT NULL,
    follows              uuid
);
CREATE INDEX ix_events__occurred_id ON events (occurred, id);
CREATE INDEX ix_events__event__occurred ON events (event, occurred);
CREATE INDEX ix_events__resource_id__occurred ON events (resource_id, occurred);

CREATE TABLE event_resources (
    id            uuid PRIMARY KEY,
    created       timestamptz NOT NULL,
    updated       timestamptz NOT NULL,
    occurred      timestamptz NOT NULL,
    resource_id   text COLLATE "C" NOT NULL,
    resource_role text COLLATE "C" NOT NULL,
    resource      jsonb NOT NULL,
    event_id      uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE
);
CREATE INDEX ix_event_resources__resource_id__occurred ON event_resources (resource_id, occurred);
CREATE INDEX ix_event_resources__occurred ON event_resources (occurred);
CREATE INDEX ix_event_resources__event_id ON event_resources (event_id);
