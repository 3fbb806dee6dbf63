-- The statements an alert rests on (issue 13): the sequence of the
-- statement whose evaluation opened it and of the one that resolved it, so
-- that an exported bundle can cite them and `verify` can check they are in
-- it. NULL for alerts no statement opened (stale evidence) or recorded
-- before this migration.
ALTER TABLE alerts ADD COLUMN opened_sequence BIGINT;
ALTER TABLE alerts ADD COLUMN resolved_sequence BIGINT;
