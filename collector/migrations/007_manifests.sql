-- 007: tool manifests (docs/privacy.md, "Manifests"): what each tool may collect, published at
-- GET /v1/tools/{tool}/manifest and enforced by every agent. Every version is kept (the history
-- is public too); the newest is the one in force.
CREATE TABLE tool_manifests (
    tool        text NOT NULL,
    version     integer NOT NULL CHECK (version > 0),
    manifest    text NOT NULL,              -- the manifest as served (JSON, version and date filled in)
    changed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tool, version)
);

-- What the agent recorded on each event: the manifest version it enforced (0 = none), and the
-- share of such events its sampling kept (1 = all): an event stands for 1 / sample_rate events.
-- Constant defaults: a catalog change only, on the partitioned parent and every partition.
ALTER TABLE events
    ADD COLUMN manifest_version integer NOT NULL DEFAULT 0,
    ADD COLUMN sample_rate      double precision NOT NULL DEFAULT 1;
