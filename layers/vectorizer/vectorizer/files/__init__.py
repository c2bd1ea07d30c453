"""File jobs: items read from a JSONL or CSV object in S3, vectors written back to S3 as shards."""
