"""Data quality: Great Expectations suites, cross-table checks, reports."""
