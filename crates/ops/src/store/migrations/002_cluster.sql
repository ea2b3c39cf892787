-- ARGUS ops store, schema version 2: cluster membership (SPEC §10). Times that decide
-- liveness are the database's own clock (now()), so nodes need not agree on theirs.

-- Every node that served from this database, with its addresses and its last heartbeat.
CREATE TABLE nodes (
    node_id       TEXT PRIMARY KEY,
    api           TEXT NOT NULL,
    agent         TEXT NOT NULL,
    peer          TEXT,
    started_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Which node holds each agent's link. Every new connection takes a fresh epoch from one
-- sequence, so the newest connection always wins, and an older node letting go later (or
-- never, if it died) removes nothing that is not its own.
CREATE SEQUENCE presence_epoch;
CREATE TABLE agent_presence (
    agent_id  TEXT PRIMARY KEY,
    node_id   TEXT NOT NULL,
    epoch     BIGINT NOT NULL,
    since     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX agent_presence_by_node ON agent_presence (node_id);

-- One live session per agent, cluster-wide: an activation must win this row (its primary key)
-- before its session is written. A claim is free again once its session ended or expired, or
-- when its session never reached the sessions table (the activating node failed) after a grace
-- longer than any flush.
CREATE TABLE live_sessions (
    agent_id    TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,            -- Unix milliseconds
    claimed_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Sessions live before this version hold their agents' claims.
INSERT INTO live_sessions (agent_id, session_id, expires_at)
    SELECT DISTINCT ON (agent_id) agent_id, id, expires_at FROM sessions WHERE active
    ORDER BY agent_id, expires_at DESC;

-- Revocation is final, also against a node writing from a stale view (its last_used_at
-- bookkeeping must never bring a revoked PAT back): a column the upsert can test.
ALTER TABLE pats ADD COLUMN revoked BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE pats SET revoked = (record::jsonb ->> 'revoked_at') IS NOT NULL;
