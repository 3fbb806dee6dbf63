-- Bounded webhook retries (issue #16): a notification given up on (a final
-- 4xx, or its sink's attempts or age exhausted) gets `failed_at` and also
-- `delivered_at` (= finished), so the dispatcher, the pending count and
-- retention treat it as done; `failed_at` tells it apart for the
-- `evident_alert_outbox_failed` gauge and for inspection.
ALTER TABLE outbox ADD COLUMN failed_at BIGINT;
CREATE INDEX outbox_failed ON outbox (failed_at) WHERE failed_at IS NOT NULL;
