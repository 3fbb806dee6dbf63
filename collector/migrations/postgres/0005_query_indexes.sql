-- Per-host queries cost what they return (issue 10): indexes the filters
-- of /v1/hosts/{id}, /v1/alerts?host= and /v1/hosts/{id}/transitions use,
-- each query built for its filter shape (no `($1 = '' OR col = $1)`).
CREATE INDEX agents_hostname ON agents (hostname);
CREATE INDEX alerts_agent ON alerts (agent_id, id);
CREATE INDEX transitions_agent_id ON transitions (agent_id, id);
