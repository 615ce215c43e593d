"""Table contracts: the catalog and the schemas (no I/O)."""
