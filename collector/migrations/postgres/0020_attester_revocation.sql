-- An attester key can be revoked (issue 13): attestations it signs at or
-- after this time are refused, and bundles record it.
ALTER TABLE attesters ADD COLUMN revoked_at BIGINT;
