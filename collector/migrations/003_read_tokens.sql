-- 003: read tokens, for the query API. Separate from ingest keys: those ship inside tools and
-- are public and write-only; a read token is a secret, read-only, and scoped to named tools.
-- Like a key, a token is stored only as its SHA-256; the plain token is shown once.
CREATE TABLE read_tokens (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL DEFAULT '',   -- who holds it, for people ("alice", "ci dashboard")
    prefix      text NOT NULL,              -- first characters of the plain token, for people
    token_hash  bytea NOT NULL UNIQUE,      -- SHA-256 of the plain token
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- The tools a token may read: one row each (a team is several tokens, a token several tools).
CREATE TABLE read_token_tools (
    token_id    bigint NOT NULL REFERENCES read_tokens (id) ON DELETE CASCADE,
    tool        text NOT NULL,
    PRIMARY KEY (token_id, tool)
);
