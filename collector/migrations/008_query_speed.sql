-- 008: the rollups the dashboard's slow questions needed (issue 18's speed items; docs/query.md).
--
-- Measured with bench_query (10 million events, 13 months) before this migration: active installs
-- (count(DISTINCT) over one row per install and day), p95 by command (rollup_duration is hourly,
-- 0.7 rows per event) and exit codes (in no rollup at all) took 0.2-5 s. Kept like 004/005: by
-- ingest from the rows it inserted, in the same transaction, and by erasure; shards as in 004.

-- Durations by command per UTC day: p50/p95/p99 by (or filtered on) name over whole UTC days.
CREATE TABLE rollup_daily_name_duration (
    tool    text NOT NULL,
    day     date NOT NULL,
    name    text NOT NULL,
    bucket  smallint NOT NULL,
    shard   smallint NOT NULL,
    events  bigint NOT NULL,
    PRIMARY KEY (tool, day, name, bucket, shard)
);

-- Exit codes per UTC day, with kind and outcome (the failures panel): exit_code is the code as
-- text, '' when the event said none, the same text the raw events' dimension gives.
CREATE TABLE rollup_daily_exit_codes (
    tool       text NOT NULL,
    day        date NOT NULL,
    kind       smallint NOT NULL,
    success    smallint NOT NULL,
    exit_code  text NOT NULL,
    shard      smallint NOT NULL,
    events     bigint NOT NULL,
    PRIMARY KEY (tool, day, kind, success, exit_code, shard)
);

-- Installs seen per ISO week (Monday) and per calendar month, UTC, exactly — like
-- rollup_installs_daily, one row per install and period. Distinct installs over a range are
-- counted over the fewest rows that cover it: whole months, then whole weeks, then days.
CREATE TABLE rollup_installs_weekly (
    tool         text NOT NULL,
    week         date NOT NULL,
    anonymous_id text NOT NULL,
    PRIMARY KEY (tool, week, anonymous_id)
);
CREATE TABLE rollup_installs_monthly (
    tool         text NOT NULL,
    month        date NOT NULL,
    anonymous_id text NOT NULL,
    PRIMARY KEY (tool, month, anonymous_id)
);

-- How many installs each day, week and month saw: the rows of the three tables above per period,
-- counted when ingest really adds a row (ON CONFLICT DO NOTHING ... RETURNING) and subtracted when
-- erasure deletes one. Daily, weekly and monthly active installs of whole periods are read here
-- (a row per period instead of a row per install). Kept when retention deletes the install rows:
-- they name no install. Shards as in 004.
CREATE TABLE rollup_install_counts (
    tool      text NOT NULL,
    period    text NOT NULL CHECK (period IN ('day', 'week', 'month')),
    start     date NOT NULL,
    shard     smallint NOT NULL,
    installs  bigint NOT NULL,
    PRIMARY KEY (tool, period, start, shard)
);

-- What is already stored is rolled up once, here.
INSERT INTO rollup_daily_name_duration
SELECT tool, (hour AT TIME ZONE 'UTC')::date, name, bucket, 0, sum(events)
FROM rollup_duration GROUP BY 1, 2, 3, 4 HAVING sum(events) <> 0;
INSERT INTO rollup_daily_exit_codes
SELECT tool, (id_time AT TIME ZONE 'UTC')::date, kind, CASE WHEN success THEN 1 WHEN NOT success THEN 0 ELSE -1 END,
       coalesce(exit_code::text, ''), 0, count(*)
FROM events GROUP BY 1, 2, 3, 4, 5;
INSERT INTO rollup_installs_weekly
SELECT DISTINCT tool, date_trunc('week', day)::date, anonymous_id FROM rollup_installs_daily;
INSERT INTO rollup_installs_monthly
SELECT DISTINCT tool, date_trunc('month', day)::date, anonymous_id FROM rollup_installs_daily;
INSERT INTO rollup_install_counts
SELECT tool, 'day', day, 0, count(*) FROM rollup_installs_daily GROUP BY 1, 3
UNION ALL SELECT tool, 'week', week, 0, count(*) FROM rollup_installs_weekly GROUP BY 1, 3
UNION ALL SELECT tool, 'month', month, 0, count(*) FROM rollup_installs_monthly GROUP BY 1, 3;
