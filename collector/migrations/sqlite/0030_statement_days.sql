-- Time index for period queries (issue 10): per agent and UTC day of
-- collection, the lowest and highest sequence collected that day. A period
-- (`export`/`report --since/--until`) turns into a sequence range that the
-- statements primary key (agent_id, sequence) answers, instead of reading
-- the agent's whole history. One row per host-day (~3 B per hourly run)
-- rather than an index entry per statement; exact even when a host's clock
-- goes backwards (the range covers every day in the period). Rows are never
-- removed by retention: a range over pruned sequences only finds fewer rows.
-- Maintained by a trigger, so every writer (ingest, populate) keeps it.
CREATE TABLE statement_days (
    agent_id TEXT NOT NULL,
    day BIGINT NOT NULL,
    first_sequence BIGINT NOT NULL,
    last_sequence BIGINT NOT NULL,
    PRIMARY KEY (agent_id, day)
) WITHOUT ROWID;
INSERT INTO statement_days (agent_id, day, first_sequence, last_sequence)
SELECT agent_id, collected_at / 86400000, MIN(sequence), MAX(sequence)
FROM statements GROUP BY agent_id, collected_at / 86400000;
CREATE TRIGGER statements_day AFTER INSERT ON statements
BEGIN
    INSERT OR IGNORE INTO statement_days (agent_id, day, first_sequence, last_sequence)
    VALUES (NEW.agent_id, NEW.collected_at / 86400000, NEW.sequence, NEW.sequence);
    UPDATE statement_days
    SET first_sequence = min(first_sequence, NEW.sequence),
        last_sequence = max(last_sequence, NEW.sequence)
    WHERE agent_id = NEW.agent_id AND day = NEW.collected_at / 86400000
      AND (first_sequence > NEW.sequence OR last_sequence < NEW.sequence);
END;
