-- Web console at fleet size (issue 15, session 6): every page reads an
-- index in the order it shows.
-- The rule x host matrix sorted by one rule: hosts by their status of it
-- (failing first; the same CASE as store/console.rs MATRIX_RANK), then by
-- agent id, read page by page from a cursor instead of sorting every host.
CREATE INDEX host_status_rank ON host_status (subject, (CASE status WHEN 'fail' THEN 0 WHEN 'error' THEN 1 WHEN 'no-evidence' THEN 2 WHEN 'waived' THEN 3 WHEN 'not-applicable' THEN 4 ELSE 5 END), agent_id);
-- The matrix by host name, page by page.
CREATE INDEX agents_status_hostname ON agents (status, hostname, id);
-- The alerts page: a kind (and state) filter read newest first, counted
-- from the index.
CREATE INDEX alerts_kind_state ON alerts (kind, state, id);
CREATE INDEX alerts_kind ON alerts (kind, id);
CREATE INDEX alerts_agent_state ON alerts (agent_id, state, id);
-- One control's trend.
CREATE INDEX fleet_trend_subject ON fleet_trend (subject, day);
