-- Scoped API tokens (only their sha256 is stored): admin, operator
-- (acknowledge alerts), auditor (read and export), metrics (scrape).
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    token_hash BLOB NOT NULL UNIQUE,
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked BIGINT NOT NULL DEFAULT 0
);
