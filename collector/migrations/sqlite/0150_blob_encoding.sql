-- Probe blobs stored compressed (issue 10, session 7; store/blob.rs): how
-- `blobs.data` holds the blob whose sha256 is `digest`. 0: the raw bytes
-- (every row written before this migration, and blobs where compression
-- does not pay); 1: one zstd frame declaring its content size. Readers
-- decompress (bounded by the largest blob an ingest request can carry) and
-- check the digest. Existing rows are not rewritten: the default marks
-- them raw, and adding a column with a constant default rewrites nothing.
ALTER TABLE blobs ADD COLUMN encoding BIGINT NOT NULL DEFAULT 0;
