-- ARGUS ops store, schema version 7: each tenant chain's head in a row of its own (SPEC §14).
-- A group of records moves each of its tenants' rows from where its first record of the tenant
-- says the head was, in the same transaction as the records: a writer that did not know a
-- tenant's newest head changes no row and collides, and follows it. This replaces version 6's
-- unique (tenant, tenant_seq) index, which cost one index entry per record; a tenant's export
-- now resumes from a mark every 64 records of the tenant (a partial index) and reads forward.
-- See docs/decisions/tenant-chains.md.
CREATE TABLE audit_tenant_heads (
    tenant      TEXT PRIMARY KEY,
    tenant_seq  BIGINT NOT NULL,
    hash        TEXT NOT NULL
);
INSERT INTO audit_tenant_heads (tenant, tenant_seq, hash)
    SELECT DISTINCT ON (tenant) tenant, tenant_seq, hash FROM audit
    WHERE tenant IS NOT NULL AND tenant_seq IS NOT NULL ORDER BY tenant, tenant_seq DESC;
DROP INDEX audit_tenant_seq;
CREATE INDEX audit_tenant_marks ON audit (tenant, tenant_seq) WHERE tenant_seq % 64 = 1;
