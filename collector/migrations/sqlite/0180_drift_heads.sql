-- The ingest writer reads every run's drift head (results digest and
-- interval) to tell an unchanged run from a changed one (issue 10,
-- session 18). In the table row, `interval_seconds` comes after
-- `statuses` (a few KB of JSON: overflow pages), so each lookup walked the
-- row's overflow chain, and in a fleet larger than the page cache read it
-- from disk. This index holds the head alone (~80 B a host) and answers the
-- lookup without the row; it changes only when a host's results do.
CREATE INDEX drift_state_head ON drift_state (agent_id, interval_seconds, results);
