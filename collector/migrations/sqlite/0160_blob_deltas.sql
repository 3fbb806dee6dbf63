-- Probe blobs stored as deltas (issue 10, session 9; store/blob.rs).
-- encoding 2: `data` is one zstd frame compressed with the raw bytes of
-- blob `base` as its dictionary (a package list that changed by a few
-- lines since the host's previous one costs a few hundred bytes, not a
-- whole compressed list). A base is always a whole blob (encoding 0 or 1),
-- so a read costs at most two rows; blobs are never deleted, so a base
-- outlives every delta on it.
ALTER TABLE blobs ADD COLUMN base BLOB;
-- Per host and kind of blob (its first bytes, which name the probe's first
-- field), the whole blob the host's next large blob of that kind is
-- compressed against. Only the writer reads it, and losing a row only
-- costs compression, never a read.
CREATE TABLE blob_bases (
    agent_id TEXT NOT NULL,
    kind BLOB NOT NULL,
    digest BLOB NOT NULL,
    PRIMARY KEY (agent_id, kind)
);
