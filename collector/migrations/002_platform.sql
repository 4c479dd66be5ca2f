-- 002: the platform facts the agent stamps on every event (docs/privacy.md, "Platform facts").
--
-- '' means "not known": rows stored before this migration, and agents that could not tell.
-- A constant default makes ADD COLUMN a catalog change only (no table rewrite, PostgreSQL 11+),
-- and on the partitioned parent it reaches every partition, current and future.
ALTER TABLE events
    ADD COLUMN os            text NOT NULL DEFAULT '',  -- linux, macos, freebsd, windows, other
    ADD COLUMN os_version    text NOT NULL DEFAULT '',  -- distribution id + major: "debian 12", "macos 14"
    ADD COLUMN arch          text NOT NULL DEFAULT '',  -- x86_64, arm64, x86, arm, ...
    ADD COLUMN agent_version text NOT NULL DEFAULT '';
