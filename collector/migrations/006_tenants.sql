-- 006: tools as tenants — per-tool retention and monthly quotas (docs/operations.md, "Tools as
-- tenants"). A tool without a row here keeps the collector's global behaviour: events kept for
-- --retention-days, rollups kept for ever, no quota.

CREATE TABLE tools (
    tool                  text PRIMARY KEY,
    -- Raw events older than this are deleted (in batches, by the collector's housekeeping). NULL:
    -- the global --retention-days. The global setting still drops whole monthly partitions, so a
    -- tool's retention can shorten it, never lengthen it.
    retention_days        integer CHECK (retention_days > 0),
    -- Events accepted per calendar month (UTC). NULL: no quota.
    monthly_quota         bigint CHECK (monthly_quota >= 0),
    -- Batches are still taken until usage reaches quota * (100 + grace_percent) / 100.
    grace_percent         integer NOT NULL DEFAULT 0 CHECK (grace_percent BETWEEN 0 AND 1000),
    -- Rollups (the dashboard's counts) older than this are deleted. NULL: kept for ever (they hold
    -- no install ids; the install-day rollups always go with the raw events).
    rollup_retention_days integer CHECK (rollup_retention_days > 0),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

-- Events accepted per tool and calendar month (UTC), kept by ingest in the statement that inserts
-- them (only rows really inserted count; duplicates never do). Sharded like the rollups (migration
-- 004): each connection adds to its own row, so concurrent batches of one tool do not queue on one
-- row lock until commit; a month's usage is the sum over shards. Every tool is counted, with a
-- quota or not, so /metrics can show usage before a quota is set.
CREATE TABLE tool_usage (
    tool    text NOT NULL,
    month   date NOT NULL,
    shard   smallint NOT NULL,
    events  bigint NOT NULL,
    PRIMARY KEY (tool, month, shard)
);
