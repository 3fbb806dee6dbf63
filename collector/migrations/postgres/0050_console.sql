-- Web console (issue 15).
-- Sessions: a signed-in browser holds a random id in a cookie; only its
-- sha256 is stored, with the role (scope) of the token it was exchanged for,
-- the synchronizer CSRF token of its forms and an absolute expiry.
CREATE TABLE console_sessions (
    id_hash BYTEA PRIMARY KEY,
    scope TEXT NOT NULL,
    actor TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);

-- Latest status per host and subject (rule:ID / control:ID), kept by the
-- ingest transaction beside drift_state (only subjects that changed are
-- written), so "hosts failing rule X" and the rule x host matrix read an
-- index instead of every host's latest results.
CREATE TABLE host_status (
    agent_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    status TEXT NOT NULL,
    since BIGINT NOT NULL,
    PRIMARY KEY (agent_id, subject)
);
CREATE INDEX host_status_subject ON host_status (subject, status, agent_id);
INSERT INTO host_status (agent_id, subject, status, since)
SELECT d.agent_id, j.key, j.value, d.updated_at
FROM drift_state d, json_each_text(d.statuses::json) j;

-- fleet_status now counts rule subjects too (the console's per-rule counts).
INSERT INTO fleet_status (subject, status, hosts)
SELECT j.key, j.value, COUNT(*)
FROM drift_state d JOIN agents a ON a.id = d.agent_id, json_each_text(d.statuses::json) j
WHERE a.status = 'active' AND j.key LIKE 'rule:%'
GROUP BY j.key, j.value;

-- Fleet posture per UTC day (a copy of fleet_status's control rows, taken
-- by serve every few minutes): the console's trend charts read this.
CREATE TABLE fleet_trend (
    day TEXT NOT NULL,
    subject TEXT NOT NULL,
    status TEXT NOT NULL,
    hosts BIGINT NOT NULL,
    PRIMARY KEY (day, subject, status)
);
