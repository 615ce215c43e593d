"""What the app, notebooks and API read: DuckDB queries over the lake."""
