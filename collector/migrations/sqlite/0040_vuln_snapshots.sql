-- Vulnerability feed snapshots (issue 18): one row per imported feed, keyed
-- by the sha256 of the feed as imported, with its source and import time and
-- the compact index (JSON, zstd) matching reads. The newest import is the
-- snapshot in force; older ones are kept (results cite them by digest).
CREATE TABLE vuln_snapshots (
    digest TEXT PRIMARY KEY,
    format TEXT NOT NULL,
    source TEXT NOT NULL,
    imported_at BIGINT NOT NULL,
    feed_bytes BIGINT NOT NULL,
    entries BIGINT NOT NULL,
    cves BIGINT NOT NULL,
    releases TEXT NOT NULL,
    index_zst BLOB NOT NULL
);
CREATE INDEX vuln_snapshots_imported ON vuln_snapshots (imported_at);
