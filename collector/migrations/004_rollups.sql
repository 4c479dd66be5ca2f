-- 004: rollups, kept by ingest in the same statement that inserts the events (docs/query.md).
--
-- Every rollup counts only the rows the INSERT ... ON CONFLICT DO NOTHING actually inserted (its
-- RETURNING rows), so a resent or duplicate event never counts twice; erasure subtracts what it
-- deletes in the same statement. Hours and days are UTC, from the event id's own time (id_time),
-- like the partitions.

-- Durations in log-scale buckets, 8 per doubling: bucket b > 0 holds [2^((b-1)/8), 2^(b/8)) µs;
-- bucket 0 holds durations <= 0 µs. A bucket's value is its geometric middle, within 4.4% of any
-- duration in it, so percentiles from the buckets are within 4.4% of the exact ones, and buckets
-- from any set of hours merge by adding their counts.
CREATE FUNCTION tk_duration_bucket(duration_us bigint) RETURNS smallint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT CASE WHEN duration_us <= 0 THEN 0
                      ELSE 1 + floor(ln(duration_us::float8) / ln(2.0) * 8)::int END::smallint $$;
CREATE FUNCTION tk_bucket_value(bucket smallint) RETURNS float8
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT CASE WHEN bucket = 0 THEN 0 ELSE power(2.0, (bucket - 0.5) / 8) END $$;

-- Events per hour and per combination of the dimensions dashboards break down by. success is
-- 1 (true), 0 (false) or -1 (not a command / not said): a primary key cannot hold NULL.
-- shard: the inserting connection's backend pid mod 8. Concurrent batches of one tool mostly add to
-- the same few rows (this hour, the popular commands); each connection adding to its own copy of
-- a row keeps them from queueing on its lock until commit. A row's count is the sum over shards
-- (erasure adds negative counts to its own shard, so one shard's row can be negative).
CREATE TABLE rollup_hourly (
    tool         text NOT NULL,
    hour         timestamptz NOT NULL,
    tool_version text NOT NULL,
    kind         smallint NOT NULL,
    name         text NOT NULL,
    os           text NOT NULL,
    os_version   text NOT NULL,
    arch         text NOT NULL,
    ci           boolean NOT NULL,
    success      smallint NOT NULL,
    shard        smallint NOT NULL,
    events       bigint NOT NULL,
    PRIMARY KEY (tool, hour, name, tool_version, kind, os, os_version, arch, ci, success, shard)
);

-- Duration distribution per hour and event name (commands that said how long they took); shards
-- as above.
CREATE TABLE rollup_duration (
    tool    text NOT NULL,
    hour    timestamptz NOT NULL,
    name    text NOT NULL,
    bucket  smallint NOT NULL,
    shard   smallint NOT NULL,
    events  bigint NOT NULL,
    PRIMARY KEY (tool, hour, name, bucket, shard)
);

-- Installs seen per UTC day, exactly (one row per install and day it sent anything): daily,
-- weekly and monthly active installs over any range are a count(DISTINCT) over this table, which
-- is far smaller than events (an install sends many events a day). Exact rather than a sketch,
-- so erasure removes an install completely (docs/query.md says why).
CREATE TABLE rollup_installs_daily (
    tool         text NOT NULL,
    day          date NOT NULL,
    anonymous_id text NOT NULL,
    PRIMARY KEY (tool, day, anonymous_id)
);

-- The first and last day each install was seen: new installs and retention cohorts. Rows whose
-- last day falls out of the retention period are deleted with the partitions.
CREATE TABLE rollup_install_first_seen (
    tool         text NOT NULL,
    anonymous_id text NOT NULL,
    first_day    date NOT NULL,
    last_day     date NOT NULL,
    PRIMARY KEY (tool, anonymous_id)
);
CREATE INDEX rollup_install_first_seen_day_idx ON rollup_install_first_seen (tool, first_day);

-- Events stored before this migration are rolled up once, here.
INSERT INTO rollup_hourly
SELECT tool, date_trunc('hour', id_time, 'UTC'), tool_version, kind, name, os, os_version, arch, ci,
       CASE WHEN success THEN 1 WHEN NOT success THEN 0 ELSE -1 END, 0, count(*)
FROM events GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10;
INSERT INTO rollup_duration
SELECT tool, date_trunc('hour', id_time, 'UTC'), name, tk_duration_bucket(duration_us), 0, count(*)
FROM events WHERE duration_us IS NOT NULL GROUP BY 1, 2, 3, 4;
INSERT INTO rollup_installs_daily
SELECT DISTINCT tool, (id_time AT TIME ZONE 'UTC')::date, anonymous_id FROM events WHERE anonymous_id <> '';
INSERT INTO rollup_install_first_seen
SELECT tool, anonymous_id, min(day), max(day) FROM rollup_installs_daily GROUP BY 1, 2;
