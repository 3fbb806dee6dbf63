-- Evident collector schema v1 (PostgreSQL). Timestamps are Unix milliseconds.
CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL UNIQUE,
    public_key BYTEA NOT NULL,
    hostname TEXT NOT NULL,
    agent_version TEXT NOT NULL,
    status TEXT NOT NULL,
    token_id TEXT,
    enrolled_at BIGINT NOT NULL,
    last_sequence BIGINT,
    last_digest BYTEA,
    last_seen BIGINT,
    latest_results BYTEA,
    latest_collected_at BIGINT
);
CREATE TABLE enroll_tokens (
    id TEXT PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    max_uses BIGINT,
    uses BIGINT NOT NULL DEFAULT 0,
    revoked BIGINT NOT NULL DEFAULT 0
);
-- Probe data, content-addressed: stored once however many statements refer to it.
CREATE TABLE blobs (
    digest BYTEA PRIMARY KEY,
    data BYTEA NOT NULL
);
-- Evaluation results (JSON with the policy digests), content-addressed.
CREATE TABLE results (
    digest BYTEA PRIMARY KEY,
    data BYTEA NOT NULL
);
-- One row per envelope: the exact envelope bytes plus per-statement facts.
-- envelope_form 0: `envelope` holds the bytes as received; 1: a lossless
-- compact form (signature header + raw payload, see store::pack_envelope),
-- rebuilt on read and checked against `digest`.
CREATE TABLE statements (
    agent_id TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    digest BYTEA NOT NULL UNIQUE,
    collected_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    results BYTEA NOT NULL,
    envelope_form BIGINT NOT NULL DEFAULT 0,
    envelope BYTEA NOT NULL,
    PRIMARY KEY (agent_id, sequence)
);
CREATE TABLE integrity_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agent_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    detail TEXT NOT NULL,
    envelope_digest BYTEA,
    at BIGINT NOT NULL
);
CREATE INDEX integrity_events_by_agent ON integrity_events (agent_id, id);
