-- 001: ingest keys and the events table, partitioned by month on the event id's own time.
--
-- Dedup by event id holds across partitions because the partition key (id_time) is derived
-- from the UUIDv7 itself: the same id always lands in the same partition, where the primary
-- key (event_id, id_time) catches it. Partitions (events_pYYYYMM) are created on demand by the
-- collector and dropped whole when they fall out of the retention period.

CREATE TABLE ingest_keys (
    id          bigserial PRIMARY KEY,
    tool        text NOT NULL,
    prefix      text NOT NULL,              -- first characters of the plain key, for people
    key_hash    bytea NOT NULL UNIQUE,      -- SHA-256 of the plain key; the key itself is never stored
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE events (
    event_id     uuid NOT NULL,
    id_time      timestamptz NOT NULL,      -- the UUIDv7's millisecond timestamp: the partition key
    tool         text NOT NULL,
    tool_version text NOT NULL,
    kind         smallint NOT NULL,
    name         text NOT NULL,
    occurred_at  timestamptz NOT NULL,      -- the event's timestamp_unix_ms (client clock)
    received_at  timestamptz NOT NULL,
    anonymous_id text NOT NULL,
    attributes   jsonb NOT NULL,
    success      boolean,
    duration_us  bigint,
    exit_code    integer,
    ci           boolean NOT NULL,
    PRIMARY KEY (event_id, id_time)
) PARTITION BY RANGE (id_time);

-- Erasure (DELETE /v1/subjects/{id}) and per-tool queries.
CREATE INDEX events_subject_idx ON events (tool, anonymous_id);
