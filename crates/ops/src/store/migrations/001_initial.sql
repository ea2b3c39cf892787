-- ARGUS ops store, schema version 1. Every record is kept as the JSON text the code writes
-- (exact bytes: the audit chain hashes them), beside the typed key columns lookups use.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    record      TEXT NOT NULL
);

CREATE TABLE pats (
    hash        BYTEA PRIMARY KEY,          -- SHA-256 of the token; the token is never stored
    id          TEXT NOT NULL UNIQUE,
    tenant      TEXT,
    record      TEXT NOT NULL
);

-- Agents with their enrollment state: pending (the enrollment token's hash), enrolled (the
-- passkey's public half) or revoked (the tombstone).
CREATE TABLE agents (
    agent_id    TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    state       TEXT NOT NULL,
    record      TEXT NOT NULL
);
CREATE INDEX agents_by_tenant ON agents (tenant);

CREATE TABLE consumed_patches (
    agent_id    TEXT NOT NULL,
    patch_id    TEXT NOT NULL,
    PRIMARY KEY (agent_id, patch_id)
);

CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    token_hash  BYTEA NOT NULL,
    tenant      TEXT NOT NULL,
    agent_id    TEXT NOT NULL,
    active      BOOLEAN NOT NULL,
    expires_at  BIGINT NOT NULL,            -- Unix milliseconds
    record      TEXT NOT NULL
);
CREATE UNIQUE INDEX sessions_by_token ON sessions (token_hash);
CREATE INDEX sessions_by_agent ON sessions (agent_id);
CREATE INDEX sessions_live_by_expiry ON sessions (expires_at) WHERE active;

-- The audit chain: seq unique and increasing; appends serialised on the head row.
CREATE TABLE audit (
    seq         BIGINT PRIMARY KEY,
    hash        TEXT NOT NULL,
    record      TEXT NOT NULL
);
CREATE TABLE audit_head (
    one         BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    seq         BIGINT NOT NULL,
    hash        TEXT NOT NULL
);
INSERT INTO audit_head (one, seq, hash)
    VALUES (TRUE, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- The cluster CA (SPEC §10): one row, written by the first init or by migrate-store.
CREATE TABLE cluster_ca (
    one         BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    cert_pem    TEXT NOT NULL,
    key_pem     TEXT NOT NULL
);
