-- Evidence review (issue #7): people who sign manual attestations, and the
-- attestations themselves (exact DSSE envelope bytes). Supporting documents
-- are stored in `blobs` by digest. Timestamps are Unix milliseconds.
CREATE TABLE attesters (
    key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    public_key BYTEA NOT NULL,
    registered_at BIGINT NOT NULL
);
CREATE TABLE attestations (
    digest BYTEA PRIMARY KEY,
    control TEXT NOT NULL,
    attester_key_id TEXT NOT NULL,
    expires TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    envelope BYTEA NOT NULL
);
CREATE INDEX attestations_by_control ON attestations (control);
