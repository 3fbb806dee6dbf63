-- Envelope storage form 3 (issue 10, store/template.rs): an unchanged
-- predicate-v2 run is stored as a reference to a template (the payload cut
-- at its sequence, previous digest and collection time, with the payload
-- type and key id) plus its sub-millisecond time, previous digest and
-- signature; re-rendered byte for byte on read and checked against the
-- envelope digest. One template per host and content, shared by its runs;
-- templates are never deleted. Rows of forms 0–2 are unchanged.
CREATE TABLE envelope_templates (
    id INTEGER PRIMARY KEY,
    template_digest BLOB NOT NULL UNIQUE,
    template BLOB NOT NULL
);
ALTER TABLE statements ADD COLUMN template_id BIGINT;
