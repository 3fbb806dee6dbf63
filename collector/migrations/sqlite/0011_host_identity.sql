-- The machine id an agent reported at enrollment: revocation applies to the
-- host (machine id, host name), and one machine id enrolled twice is flagged.
ALTER TABLE agents ADD COLUMN machine_id TEXT;
CREATE INDEX agents_by_hostname ON agents (hostname);
CREATE INDEX agents_by_machine_id ON agents (machine_id);
