"""Helpers shared by the pages: query context and caching, charts, widgets."""
