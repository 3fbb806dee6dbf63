-- The identity of this database: one row, written when a data directory is
-- initialised and recorded there as `store.id`. Opening a data directory
-- checks that its database carries the same id (never a fresh or another one).
CREATE TABLE store_identity (
    id TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
