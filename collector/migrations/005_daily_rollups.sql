-- 005: daily rollups, few dimensions each, for answers over weeks and months (docs/query.md).
--
-- Measured with bench_query (10 million realistic events over 13 months): rollup_hourly keeps
-- about 0.9 rows per event — an hour rarely sees the same command on the same version, OS,
-- architecture and outcome twice — so summing it over 30 days or a year is as slow as the raw
-- events. A dashboard panel asks about one or two dimensions at a time over whole days; these
-- tables keep exactly that, per UTC day: 20-40 times fewer rows than rollup_hourly.
-- They answer when the range and the buckets are whole UTC days (time zone UTC or another
-- zone that is always UTC+0); anything else still comes from rollup_hourly. Kept like the
-- others: by ingest, from the rows it inserted, and by erasure (negative counts); shards as in 004.

-- Commands and features: by name, kind and outcome (the commands, failures and features panels).
CREATE TABLE rollup_daily_names (
    tool     text NOT NULL,
    day      date NOT NULL,
    name     text NOT NULL,
    kind     smallint NOT NULL,
    success  smallint NOT NULL,
    shard    smallint NOT NULL,
    events   bigint NOT NULL,
    PRIMARY KEY (tool, day, name, kind, success, shard)
);

-- Versions and platforms: by tool_version, os, os_version, arch, ci and outcome (the versions,
-- platform and CI panels, the overview's counts and success rate).
CREATE TABLE rollup_daily_platform (
    tool         text NOT NULL,
    day          date NOT NULL,
    tool_version text NOT NULL,
    os           text NOT NULL,
    os_version   text NOT NULL,
    arch         text NOT NULL,
    ci           boolean NOT NULL,
    success      smallint NOT NULL,
    shard        smallint NOT NULL,
    events       bigint NOT NULL,
    PRIMARY KEY (tool, day, tool_version, os, os_version, arch, ci, success, shard)
);

-- Durations of all commands of a day, by bucket (the overview's p50/p95).
CREATE TABLE rollup_daily_duration (
    tool    text NOT NULL,
    day     date NOT NULL,
    bucket  smallint NOT NULL,
    shard   smallint NOT NULL,
    events  bigint NOT NULL,
    PRIMARY KEY (tool, day, bucket, shard)
);

-- What is already rolled up hourly is rolled up daily, once, here.
INSERT INTO rollup_daily_names
SELECT tool, (hour AT TIME ZONE 'UTC')::date, name, kind, success, 0, sum(events)
FROM rollup_hourly GROUP BY 1, 2, 3, 4, 5 HAVING sum(events) <> 0;
INSERT INTO rollup_daily_platform
SELECT tool, (hour AT TIME ZONE 'UTC')::date, tool_version, os, os_version, arch, ci, success, 0, sum(events)
FROM rollup_hourly GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 HAVING sum(events) <> 0;
INSERT INTO rollup_daily_duration
SELECT tool, (hour AT TIME ZONE 'UTC')::date, bucket, 0, sum(events)
FROM rollup_duration GROUP BY 1, 2, 3 HAVING sum(events) <> 0;
