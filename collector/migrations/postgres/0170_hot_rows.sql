-- Room for in-place updates on the rows every run moves (issue 10,
-- session 12). PostgreSQL writes an update as a new row version; when the
-- page has room for it the update is HOT (no new index entries) and the
-- page prunes the dead versions itself on a later visit, with or without
-- autovacuum. A full page sends the version elsewhere, adds an entry to
-- every index and leaves the dead version for VACUUM.
--
-- fleet_status: a few hundred counters that every changed evaluation
-- moves; 10 % full, so each page keeps room for many versions.
ALTER TABLE fleet_status SET (fillfactor = 10);
-- agents (each stored run moves the head), statement_days (each run moves
-- its day's last sequence) and drift_state (each changed evaluation).
ALTER TABLE agents SET (fillfactor = 70);
ALTER TABLE statement_days SET (fillfactor = 70);
ALTER TABLE drift_state SET (fillfactor = 70);
-- The setting holds for pages written from now on; fleet_status is small,
-- so it is rewritten here and takes it at once (the others take it as
-- they grow).
CREATE TEMP TABLE fleet_status_copy ON COMMIT DROP AS SELECT * FROM fleet_status;
TRUNCATE fleet_status;
INSERT INTO fleet_status SELECT * FROM fleet_status_copy;
