-- The fleet view of vulnerabilities kept up to date (issue 18, session 7).
--
-- vuln_fleet_counts: per (CVE, source package) the number of active hosts
-- where it is open (a vuln_first_seen row without resolved_sequence) and
-- the earliest first_at among them. Updated in the transactions that open
-- or resolve vuln_first_seen rows (ingest, the background re-match) and
-- that move an agent into or out of `active`; a pair open on no active
-- host has no row. The index gives the pairs on the most hosts in order,
-- so the top N reads N rows whatever the fleet's size.
CREATE TABLE vuln_fleet_counts (
    cve TEXT NOT NULL,
    source TEXT NOT NULL,
    hosts BIGINT NOT NULL,
    first_seen BIGINT NOT NULL,
    PRIMARY KEY (cve, source)
);
CREATE INDEX vuln_fleet_counts_hosts ON vuln_fleet_counts (hosts DESC, cve, source);
-- The earliest open first sighting of a pair, read when the one that was
-- earliest is resolved or leaves the active fleet.
CREATE INDEX vuln_first_seen_open ON vuln_first_seen (cve, source, first_at)
    WHERE resolved_sequence IS NULL;
-- Backfill from the state kept so far.
INSERT INTO vuln_fleet_counts (cve, source, hosts, first_seen)
SELECT f.cve, f.source, COUNT(*), MIN(f.first_at)
FROM vuln_first_seen f JOIN agents a ON a.id = f.agent_id AND a.status = 'active'
WHERE f.resolved_sequence IS NULL
GROUP BY f.cve, f.source;
