-- Drift and alerting (issue #6). Timestamps are Unix milliseconds.
-- The statuses of each host's latest evaluation, to compare the next one with.
CREATE TABLE drift_state (
    agent_id TEXT PRIMARY KEY REFERENCES agents(id),
    results BYTEA NOT NULL,
    statuses TEXT NOT NULL,
    interval_seconds BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Every status change of a rule or control on a host: the drift timeline.
CREATE TABLE transitions (
    id BIGSERIAL PRIMARY KEY,
    agent_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX transitions_agent ON transitions (agent_id, subject, at);
CREATE INDEX transitions_subject ON transitions (subject, at);
-- Alerts: open, acknowledged or resolved; at most one not resolved per
-- (host, kind, subject).
CREATE TABLE alerts (
    id BIGSERIAL PRIMARY KEY,
    agent_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    severity TEXT NOT NULL,
    state TEXT NOT NULL,
    baseline BIGINT NOT NULL DEFAULT 0,
    flapping BIGINT NOT NULL DEFAULT 0,
    detail TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    resolved_at BIGINT,
    ack_by TEXT,
    ack_reason TEXT,
    ack_at BIGINT
);
CREATE UNIQUE INDEX alerts_one_open ON alerts (agent_id, kind, subject) WHERE state <> 'resolved';
CREATE INDEX alerts_state ON alerts (state, id);
-- Notifications to deliver, one row per (alert event, sink); written in the
-- transaction that opens or resolves the alert.
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    alert_id BIGINT NOT NULL,
    event TEXT NOT NULL,
    sink TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0,
    delivered_at BIGINT,
    last_error TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL;
