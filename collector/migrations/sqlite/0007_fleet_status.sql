-- Fleet counts (issue 10): per control subject and status, how many active
-- hosts' latest evaluation has it. Maintained in the ingest transaction
-- (and when an agent's status changes), so /v1/controls and /metrics read
-- a few hundred rows instead of every host's latest results.
CREATE TABLE fleet_status (
    subject TEXT NOT NULL,
    status TEXT NOT NULL,
    hosts BIGINT NOT NULL,
    PRIMARY KEY (subject, status)
);
INSERT INTO fleet_status (subject, status, hosts)
SELECT j.key, j.value, COUNT(*)
FROM drift_state d JOIN agents a ON a.id = d.agent_id, json_each(d.statuses) j
WHERE a.status = 'active' AND j.key LIKE 'control:%'
GROUP BY j.key, j.value;
