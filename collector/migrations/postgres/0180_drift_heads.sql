-- SQLite only (issue 10, session 18): there the drift head lookup walked
-- each row's `statuses` overflow pages. PostgreSQL stores a value that
-- large out of line (TOAST), so the head columns are read from a small heap
-- row and an index would only add writes. The migration keeps both stores
-- at the same version.
SELECT 1;
