-- ARGUS ops store, schema version 5: access requests (SPEC §13). One row per request, its
-- record as JSON; `state` and `approvals` beside it so that a write from a node with a stale
-- view never undoes a decision (a denied, expired or used request stays so; an approved one
-- only becomes used; a pending one never loses approvals it had).
CREATE TABLE access_requests (
    request_id  TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    agent_id    TEXT NOT NULL,
    state       TEXT NOT NULL,
    approvals   INT NOT NULL,
    record      TEXT NOT NULL
);
CREATE INDEX access_requests_by_tenant ON access_requests (tenant);
