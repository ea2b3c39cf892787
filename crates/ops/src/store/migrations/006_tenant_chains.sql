-- ARGUS ops store, schema version 6: each tenant's own audit chain (SPEC §14). The tenant and
-- its `tenant_seq` beside each record, one place per tenant (a writer that did not know a
-- tenant's newest head collides here and follows it), and the hash a record had before the
-- migration that gave older records their place (so a node's remembered head from before it
-- is still recognised). Records are given their places by the server at start-up (the hashes
-- are computed in Rust): see docs/decisions/tenant-chains.md.
ALTER TABLE audit ADD COLUMN tenant TEXT, ADD COLUMN tenant_seq BIGINT, ADD COLUMN legacy_hash TEXT;
CREATE UNIQUE INDEX audit_tenant_seq ON audit (tenant, tenant_seq);
-- Set once every record has its place; a database with no record yet has nothing to give.
CREATE TABLE audit_migrations (name TEXT PRIMARY KEY, done_at TIMESTAMPTZ NOT NULL DEFAULT now());
INSERT INTO audit_migrations (name) SELECT 'tenant_chains' WHERE NOT EXISTS (SELECT 1 FROM audit);
