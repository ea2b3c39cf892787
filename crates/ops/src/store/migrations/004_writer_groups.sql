-- ARGUS ops store, schema version 4: each writer's last group (SPEC §10 "A write whose commit
-- outcome is unknown is resolved before anything else is written"). Every group a writer commits
-- moves its row to that group's number and the audit head it landed at, in the same
-- transaction; when a COMMIT got no answer, the row (read under its lock, so a commit still in
-- progress is waited for) says whether the group landed. One row per writer (a server process
-- opening the store), kept 30 days after its last write.
CREATE TABLE writer_groups (
    writer BIGINT PRIMARY KEY,
    group_id BIGINT NOT NULL,
    head_seq BIGINT,
    head_hash TEXT,
    written_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
