-- ARGUS ops store, schema version 3: who a peer is (SPEC §10 "Relayed work is checked where it
-- runs"). Each node's heartbeat names the SHA-256 of the certificate it presents on peer links;
-- a node acts on relayed work only from a peer whose certificate is that of a live node.
ALTER TABLE nodes ADD COLUMN peer_cert_sha256 TEXT;
