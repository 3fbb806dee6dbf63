-- Evidence review (issue #7): every policy and waivers file the collector
-- has evaluated with, by sha256, so that an export carries the exact files
-- each recorded result was computed from, even after the files changed.
CREATE TABLE policy_files (
    digest BYTEA PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    data BYTEA NOT NULL,
    first_loaded_at BIGINT NOT NULL
);
