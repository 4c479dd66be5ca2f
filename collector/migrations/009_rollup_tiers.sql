-- 009: weekly and monthly tiers of the daily count rollups, and duration histograms by command
-- (issue 18's remaining query speed; docs/query.md).
--
-- Measured with bench_query (10 million events, 13 months) before this migration: every question
-- over 13 months that the daily tables answered summed a row per day — 222k rows of
-- rollup_daily_names, 158k of rollup_daily_platform, 2.8M of rollup_daily_name_duration — and took
-- 0.2-3 s. The tiers keep the daily tables' columns per ISO week (its Monday) and per calendar
-- month (its first day), UTC, so a range is summed over its whole months, then whole weeks, then
-- the days left at its edges (period_cover() in query.cpp): a tenth to a twentieth of the rows,
-- the same sums.
-- Kept like 005/008: by ingest, from the rows it inserted, in the same statement, and by erasure
-- (negative counts); shards as in 004.

CREATE TABLE rollup_weekly_names (
    tool     text NOT NULL,
    week     date NOT NULL,
    name     text NOT NULL,
    kind     smallint NOT NULL,
    success  smallint NOT NULL,
    shard    smallint NOT NULL,
    events   bigint NOT NULL,
    PRIMARY KEY (tool, week, name, kind, success, shard)
);
CREATE TABLE rollup_monthly_names (
    tool     text NOT NULL,
    month    date NOT NULL,
    name     text NOT NULL,
    kind     smallint NOT NULL,
    success  smallint NOT NULL,
    shard    smallint NOT NULL,
    events   bigint NOT NULL,
    PRIMARY KEY (tool, month, name, kind, success, shard)
);

CREATE TABLE rollup_weekly_platform (
    tool         text NOT NULL,
    week         date NOT NULL,
    tool_version text NOT NULL,
    os           text NOT NULL,
    os_version   text NOT NULL,
    arch         text NOT NULL,
    ci           boolean NOT NULL,
    success      smallint NOT NULL,
    shard        smallint NOT NULL,
    events       bigint NOT NULL,
    PRIMARY KEY (tool, week, tool_version, os, os_version, arch, ci, success, shard)
);
CREATE TABLE rollup_monthly_platform (
    tool         text NOT NULL,
    month        date NOT NULL,
    tool_version text NOT NULL,
    os           text NOT NULL,
    os_version   text NOT NULL,
    arch         text NOT NULL,
    ci           boolean NOT NULL,
    success      smallint NOT NULL,
    shard        smallint NOT NULL,
    events       bigint NOT NULL,
    PRIMARY KEY (tool, month, tool_version, os, os_version, arch, ci, success, shard)
);

CREATE TABLE rollup_weekly_duration (
    tool    text NOT NULL,
    week    date NOT NULL,
    bucket  smallint NOT NULL,
    shard   smallint NOT NULL,
    events  bigint NOT NULL,
    PRIMARY KEY (tool, week, bucket, shard)
);
CREATE TABLE rollup_monthly_duration (
    tool    text NOT NULL,
    month   date NOT NULL,
    bucket  smallint NOT NULL,
    shard   smallint NOT NULL,
    events  bigint NOT NULL,
    PRIMARY KEY (tool, month, bucket, shard)
);

-- Durations by command as one histogram per period and name (the same buckets as 004: 8 per
-- doubling, within 4.43%): counts[b] is the events in bucket b, the array's lower bound its lowest
-- bucket, NULL an empty bucket. rollup_daily_name_duration keeps a row per bucket — about 9,000 a
-- day at 10 million events, and a week or month has nearly as many distinct (name, bucket) pairs
-- as a day — so p95 by command over 30 days read 200k rows; these keep a row per name (about 300 a
-- period). The collector adds the histograms of a range itself (query.cpp). Ingest merges a
-- batch's histogram into the row with tk_histogram_add(); erasure adds negative counts. They
-- replace rollup_daily_name_duration (dropped below, once its rows are here).
CREATE FUNCTION tk_histogram_add(a bigint[], b bigint[]) RETURNS bigint[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF a IS NULL OR cardinality(a) = 0 THEN RETURN b; END IF;
    IF b IS NULL OR cardinality(b) = 0 THEN RETURN a; END IF;
    -- Assigning outside a one-dimensional array's bounds extends it (the gap is NULL).
    FOR i IN array_lower(b, 1)..array_upper(b, 1) LOOP
        IF b[i] IS NOT NULL THEN a[i] := coalesce(a[i], 0) + b[i]; END IF;
    END LOOP;
    RETURN a;
END $$;
-- The histogram of (bucket, count) rows, and the sum of histograms.
CREATE FUNCTION tk_histogram_step(state bigint[], bucket smallint, n bigint) RETURNS bigint[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    state[bucket] := coalesce(state[bucket], 0) + n;
    RETURN state;
END $$;
CREATE AGGREGATE tk_histogram(smallint, bigint) (SFUNC = tk_histogram_step, STYPE = bigint[], INITCOND = '{}');
CREATE AGGREGATE tk_histogram_sum(bigint[]) (SFUNC = tk_histogram_add, STYPE = bigint[], INITCOND = '{}');

CREATE TABLE rollup_daily_name_histogram (
    tool    text NOT NULL,
    day     date NOT NULL,
    name    text NOT NULL,
    shard   smallint NOT NULL,
    counts  bigint[] NOT NULL,
    PRIMARY KEY (tool, day, name, shard)
);
CREATE TABLE rollup_weekly_name_histogram (
    tool    text NOT NULL,
    week    date NOT NULL,
    name    text NOT NULL,
    shard   smallint NOT NULL,
    counts  bigint[] NOT NULL,
    PRIMARY KEY (tool, week, name, shard)
);
CREATE TABLE rollup_monthly_name_histogram (
    tool    text NOT NULL,
    month   date NOT NULL,
    name    text NOT NULL,
    shard   smallint NOT NULL,
    counts  bigint[] NOT NULL,
    PRIMARY KEY (tool, month, name, shard)
);

-- What the daily tables hold is rolled up once, here (date_trunc of a timestamp without time
-- zone: the session's TimeZone plays no part).
INSERT INTO rollup_weekly_names
SELECT tool, date_trunc('week', day::timestamp)::date, name, kind, success, 0, sum(events)
FROM rollup_daily_names GROUP BY 1, 2, 3, 4, 5 HAVING sum(events) <> 0;
INSERT INTO rollup_monthly_names
SELECT tool, date_trunc('month', day::timestamp)::date, name, kind, success, 0, sum(events)
FROM rollup_daily_names GROUP BY 1, 2, 3, 4, 5 HAVING sum(events) <> 0;
INSERT INTO rollup_weekly_platform
SELECT tool, date_trunc('week', day::timestamp)::date, tool_version, os, os_version, arch, ci, success, 0, sum(events)
FROM rollup_daily_platform GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 HAVING sum(events) <> 0;
INSERT INTO rollup_monthly_platform
SELECT tool, date_trunc('month', day::timestamp)::date, tool_version, os, os_version, arch, ci, success, 0, sum(events)
FROM rollup_daily_platform GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 HAVING sum(events) <> 0;
INSERT INTO rollup_weekly_duration
SELECT tool, date_trunc('week', day::timestamp)::date, bucket, 0, sum(events)
FROM rollup_daily_duration GROUP BY 1, 2, 3 HAVING sum(events) <> 0;
INSERT INTO rollup_monthly_duration
SELECT tool, date_trunc('month', day::timestamp)::date, bucket, 0, sum(events)
FROM rollup_daily_duration GROUP BY 1, 2, 3 HAVING sum(events) <> 0;
INSERT INTO rollup_daily_name_histogram
SELECT tool, day, name, 0, tk_histogram(bucket, n) FROM (
    SELECT tool, day, name, bucket, sum(events)::bigint AS n FROM rollup_daily_name_duration
    GROUP BY 1, 2, 3, 4 HAVING sum(events) <> 0) d
GROUP BY 1, 2, 3;
INSERT INTO rollup_weekly_name_histogram
SELECT tool, date_trunc('week', day::timestamp)::date, name, 0, tk_histogram_sum(counts)
FROM rollup_daily_name_histogram GROUP BY 1, 2, 3;
INSERT INTO rollup_monthly_name_histogram
SELECT tool, date_trunc('month', day::timestamp)::date, name, 0, tk_histogram_sum(counts)
FROM rollup_daily_name_histogram GROUP BY 1, 2, 3;

-- The daily histograms hold everything rollup_daily_name_duration held (a row per bucket cost
-- ingest the biggest of its daily upserts: ~500 rows a 500-event batch); it answers nothing now.
DROP TABLE rollup_daily_name_duration;

