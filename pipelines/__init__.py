"""Telemetra: live-stream analytics lakehouse."""
