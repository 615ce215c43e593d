"""The tables the query layer serves (gold, and silver's panes for the Live page) as Arrow
datasets, kept current.

Opened with the ``deltalake`` package (DuckDB's delta extension is not available
everywhere). A table is re-read when its Delta version moves on, polled at most every
``recheck_seconds``, so readers see the pipeline's new commits within seconds. A table
that does not exist yet stands in as an empty table of its schema (``pipelines.core.schemas``).
No SQL here: ``pipelines.serving.queries`` is the one place for it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import DeltaTable

from pipelines.core import catalog

GOLD_SCHEMAS = {t.name: t.schema for t in catalog.gold()}
# What the query layer reads, by name: gold, and the hot path's panes (fresh windows).
SERVED = {t.name: t for t in (*catalog.gold(), catalog.table("silver", "panes"))}


@dataclass
class LoadedTable:
    table: DeltaTable | None  # None: the table does not exist (yet)
    dataset: pa.Table | ds.Dataset
    version: int | None
    checked_at: float


class GoldTables:
    """Thread-safe cache of the :data:`SERVED` tables' datasets, one per table."""

    def __init__(
        self,
        lake_root: str,
        storage_options: dict[str, str] | None = None,
        recheck_seconds: float = 1.0,
    ) -> None:
        self.lake_root = lake_root.rstrip("/")
        self._storage_options = storage_options
        self._recheck_seconds = recheck_seconds
        self._lock = threading.Lock()
        self._loaded: dict[str, LoadedTable] = {}

    def path(self, table: str) -> str:
        return SERVED[table].path(self.lake_root)

    def load(self, name: str) -> LoadedTable:
        """The table's current dataset, re-opened when its Delta version moved on."""
        with self._lock:
            now = time.monotonic()
            entry = self._loaded.get(name)
            if entry is None or now - entry.checked_at >= self._recheck_seconds:
                entry = self._refresh(name, entry, now)
                self._loaded[name] = entry
            return entry

    def _refresh(self, name: str, entry: LoadedTable | None, now: float) -> LoadedTable:
        if entry is not None and entry.table is not None:
            try:
                entry.table.update_incremental()
            except Exception:  # vacuumed or recreated underneath us: open it afresh
                entry = None
            else:
                version = entry.table.version()
                dataset = (
                    entry.dataset if version == entry.version else entry.table.to_pyarrow_dataset()
                )
                return LoadedTable(entry.table, dataset, version, now)
        path = self.path(name)
        if not DeltaTable.is_deltatable(path, storage_options=self._storage_options):
            empty = SERVED[name].schema.empty_table()
            return LoadedTable(None, empty, None, now)
        table = DeltaTable(path, storage_options=self._storage_options)
        return LoadedTable(table, table.to_pyarrow_dataset(), table.version(), now)


def missing_message(missing: list[str], lake_root: str) -> str | None:
    """What to tell a reader when some gold tables do not exist yet."""
    if not missing:
        return None
    names = ", ".join(SERVED[name].ref for name in missing)
    return (
        f"No data yet: {names} not found under {lake_root}. "
        "Start the pipeline (`telemetra run all`, or `telemetra up`) to fill the gold layer; "
        "a freshly started stack shows its first rows within a minute of `telemetra up` on "
        "2 cores."
    )
