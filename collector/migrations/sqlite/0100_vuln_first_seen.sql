-- Vulnerability state per host (issue 18).
--
-- vuln_inventories: a host's inventory history, one row each time the
-- digest of its packages blob changes (on its newest statements): from
-- which statement (sequence, envelope digest, collection time) it held
-- that inventory. First-seen times walk it back to the start of the
-- current continuous installation of an affected version.
--
-- vuln_first_seen: per host x (CVE, source package), the statement that
-- first showed it (first_*), the last statement that still did (last_*),
-- and the first statement where it no longer matched (resolved_*, NULL
-- while open). A fix and a later reinstall start a new first-seen. The
-- statements these rows cite are kept by retention.
CREATE TABLE vuln_inventories (
    agent_id TEXT NOT NULL,
    first_sequence BIGINT NOT NULL,
    packages BLOB NOT NULL,
    first_digest BLOB NOT NULL,
    first_at BIGINT NOT NULL,
    PRIMARY KEY (agent_id, first_sequence)
);
CREATE TABLE vuln_first_seen (
    agent_id TEXT NOT NULL,
    cve TEXT NOT NULL,
    source TEXT NOT NULL,
    first_sequence BIGINT NOT NULL,
    first_digest BLOB NOT NULL,
    first_at BIGINT NOT NULL,
    last_sequence BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    resolved_sequence BIGINT,
    resolved_digest BLOB,
    resolved_at BIGINT,
    PRIMARY KEY (agent_id, cve, source)
);
CREATE INDEX vuln_first_seen_first ON vuln_first_seen (agent_id, first_sequence);
CREATE INDEX vuln_first_seen_resolved ON vuln_first_seen (agent_id, resolved_sequence);
CREATE INDEX vuln_first_seen_cve ON vuln_first_seen (cve, source);
