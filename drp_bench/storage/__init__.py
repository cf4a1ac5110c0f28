"""Files on disk that outlive a run: the SQLite store behind the caches, the embedding cache,
streamed file hashes."""
