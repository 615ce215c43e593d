"""The table catalog: one declaration per table, and nobody else spells a table's path."""

from __future__ import annotations

import re

import pytest

from pipelines.config import PROJECT_ROOT
from pipelines.core import catalog, schemas


def test_every_table_once_with_its_schema_and_keys():
    refs = [t.ref for t in catalog.TABLES]
    assert len(refs) == len(set(refs))
    for table in catalog.TABLES:
        assert table.layer in ("bronze", "silver", "gold")
        names = set(table.schema.names)
        assert set(table.keys) <= names, table.ref
        assert set(table.partition_by) <= names, table.ref
    assert [t.event_type for t in catalog.typed()] == ["chat", "viewer", "transaction",
                                                        "stream_meta"]  # fmt: skip
    assert catalog.table("silver", "quarantine").schema == schemas.QUARANTINE


def test_paths_and_unknown_tables(base_settings):
    assert base_settings.table_path("gold", "moments") == f"{base_settings.lake_root}/gold/moments"
    assert catalog.table("bronze", "events").path("s3a://lake/") == "s3a://lake/bronze/events"
    with pytest.raises(ValueError, match="unknown table gold/nope"):
        base_settings.table_path("gold", "nope")


def test_views_are_rows_of_silver_events():
    """The typed tables and quarantine have no files: their rows are silver/events rows of
    their kind, and every column of a view is a column of silver/events of the same type."""
    views = [t for t in catalog.TABLES if t.is_view]
    assert [t.name for t in views] == ["chat_messages", "viewer_counts", "transactions",
                                       "stream_meta", "quarantine"]  # fmt: skip
    stored = {f.name: f.type for f in catalog.EVENTS.schema}
    for view in views:
        assert view.stored is catalog.EVENTS
        assert all(stored[f.name] == f.type for f in view.schema), view.ref
        with pytest.raises(ValueError, match="view of silver/events"):
            view.path("/lake")
    assert catalog.view_sql(catalog.table("silver", "viewer_counts"), "ev") == (
        'SELECT "event_id", "stream_id", "ts", "viewer_count", "topic", "partition", '
        '"offset", "ingest_time" FROM ev WHERE kind = \'viewer\''
    )
    assert catalog.EVENTS.partition_by == ("kind",)


def test_no_module_but_the_catalog_spells_a_table_path():
    """A path like "lake/silver/chat_messages", or f"{root}/gold/moments", would be a
    second declaration of where a table lives (a message may name "gold/moments")."""
    names = "|".join(t.name for t in catalog.TABLES)
    spelled = re.compile(rf"[}}/](bronze|silver|gold)/({names})\b")
    offenders = []
    for path in sorted((PROJECT_ROOT / "pipelines").rglob("*.py")):
        if path.name == "catalog.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if spelled.search(line) and not line.lstrip().startswith("#"):
                offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{n}: {line.strip()}")
    assert offenders == []
