-- Retention (issue 10): past the configured window, statements where nothing
-- changed are pruned; each pruned statement leaves a chain stub (sequence,
-- envelope digest, previous) so `verify` still proves the hash chain across
-- it, and every pass is recorded with the policy it applied.
CREATE TABLE prune_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    keep_days BIGINT NOT NULL,
    cutoff BIGINT NOT NULL,
    policy TEXT NOT NULL,
    statements BIGINT NOT NULL DEFAULT 0,
    alerts BIGINT NOT NULL DEFAULT 0,
    transitions BIGINT NOT NULL DEFAULT 0,
    outbox BIGINT NOT NULL DEFAULT 0,
    integrity_events BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE chain_stubs (
    agent_id TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    digest BLOB NOT NULL,
    previous BLOB,
    collected_at BIGINT NOT NULL,
    prune_run BIGINT NOT NULL,
    PRIMARY KEY (agent_id, sequence)
) WITHOUT ROWID;
-- How far each host's history has been considered, and what the last
-- considered statement held (to tell whether the next one changed anything).
CREATE TABLE retention_marks (
    agent_id TEXT PRIMARY KEY,
    through_sequence BIGINT NOT NULL,
    prev_collected_at BIGINT NOT NULL,
    prev_results BLOB NOT NULL,
    prev_content BLOB
) WITHOUT ROWID;
CREATE INDEX transitions_at ON transitions (at);
CREATE INDEX integrity_events_at ON integrity_events (at);
CREATE INDEX outbox_delivered ON outbox (delivered_at) WHERE delivered_at IS NOT NULL;
CREATE INDEX alerts_resolved ON alerts (resolved_at) WHERE state = 'resolved';
