-- 010: room on each page of the rollup counters for HOT updates.
--
-- Ingest adds every batch to existing rollup rows (the current hour's, day's, week's and month's
-- of each key) with INSERT ... ON CONFLICT DO UPDATE. An update that finds no free space on the
-- row's page writes the new row version elsewhere and inserts it into the primary key index as
-- well; one that fits on the same page, changing no indexed column (only `events`, `counts`,
-- `installs` or `last_day` change), is a heap-only tuple (HOT) update: no index entry, and the old
-- version is pruned from the page later without VACUUM. At the default fillfactor of 100 pages are
-- full, so almost every rollup update was a full one (bench_query's load: 1.7% of 150k updates of
-- rollup_weekly_names were HOT). A fillfactor leaves that room on pages written from now on:
-- 70% for the small, much-updated daily, weekly, monthly and install tables; 85% for the big hourly
-- tables, whose rows are updated only during their hour. Existing pages keep their layout until
-- they are rewritten; answers do not change.

ALTER TABLE rollup_hourly SET (fillfactor = 85);
ALTER TABLE rollup_duration SET (fillfactor = 85);
ALTER TABLE rollup_daily_names SET (fillfactor = 70);
ALTER TABLE rollup_daily_platform SET (fillfactor = 70);
ALTER TABLE rollup_daily_duration SET (fillfactor = 70);
ALTER TABLE rollup_daily_exit_codes SET (fillfactor = 70);
ALTER TABLE rollup_daily_name_histogram SET (fillfactor = 70);
ALTER TABLE rollup_weekly_names SET (fillfactor = 70);
ALTER TABLE rollup_weekly_platform SET (fillfactor = 70);
ALTER TABLE rollup_weekly_duration SET (fillfactor = 70);
ALTER TABLE rollup_weekly_name_histogram SET (fillfactor = 70);
ALTER TABLE rollup_monthly_names SET (fillfactor = 70);
ALTER TABLE rollup_monthly_platform SET (fillfactor = 70);
ALTER TABLE rollup_monthly_duration SET (fillfactor = 70);
ALTER TABLE rollup_monthly_name_histogram SET (fillfactor = 70);
ALTER TABLE rollup_install_first_seen SET (fillfactor = 70);
ALTER TABLE rollup_install_counts SET (fillfactor = 70);
ALTER TABLE tool_usage SET (fillfactor = 50);
