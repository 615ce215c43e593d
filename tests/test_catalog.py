"""The table catalog: one declaration per table, and nobody else spells a table's path."""

from __future__ import annotations

import re

import pytest

from pipelines import catalog, schemas
from pipelines.config import PROJECT_ROOT


def test_every_table_once_with_its_schema_and_keys():
    refs = [t.ref for t in catalog.TABLES]
    assert len(refs) == len(set(refs))
    for table in catalog.TABLES:
        assert table.layer in ("bronze", "silver", "gold")
        names = set(table.schema.fieldNames())
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
