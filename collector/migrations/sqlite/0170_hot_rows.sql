-- Room for in-place updates on the rows every run moves (issue 10,
-- session 12): PostgreSQL only (fillfactor). SQLite updates a row in
-- place, so there is nothing to change; the migration keeps both stores
-- at the same version.
SELECT 1;
