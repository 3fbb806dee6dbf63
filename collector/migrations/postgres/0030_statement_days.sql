-- Time index for period queries (issue 10): per agent and UTC day of
-- collection, the lowest and highest sequence collected that day. A period
-- (`export`/`report --since/--until`) turns into a sequence range that the
-- statements primary key (agent_id, sequence) answers, instead of reading
-- the agent's whole history. One row per host-day (a few bytes per hourly
-- run) rather than an index entry per statement; exact even when a host's
-- clock goes backwards (the range covers every day in the period). Rows
-- are never removed by retention: a range over pruned sequences only finds
-- fewer rows. Maintained by a trigger, so every writer keeps it.
CREATE TABLE statement_days (
    agent_id TEXT NOT NULL,
    day BIGINT NOT NULL,
    first_sequence BIGINT NOT NULL,
    last_sequence BIGINT NOT NULL,
    PRIMARY KEY (agent_id, day)
);
INSERT INTO statement_days (agent_id, day, first_sequence, last_sequence)
SELECT agent_id, collected_at / 86400000, MIN(sequence), MAX(sequence)
FROM statements GROUP BY agent_id, collected_at / 86400000;
CREATE FUNCTION statements_day() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO statement_days AS d (agent_id, day, first_sequence, last_sequence)
    VALUES (NEW.agent_id, NEW.collected_at / 86400000, NEW.sequence, NEW.sequence)
    ON CONFLICT (agent_id, day) DO UPDATE
    SET first_sequence = LEAST(d.first_sequence, excluded.first_sequence),
        last_sequence = GREATEST(d.last_sequence, excluded.last_sequence)
    WHERE d.first_sequence > excluded.first_sequence
       OR d.last_sequence < excluded.last_sequence;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER statements_day AFTER INSERT ON statements
FOR EACH ROW EXECUTE FUNCTION statements_day();
