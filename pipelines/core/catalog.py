"""The table catalog: every Delta table of the lake, declared once.

Each :class:`Table` names its layer, name, schema (``pipelines.core.schemas``), key columns,
partitioning and what it holds. Every reader and writer, the quality suites and the
maintenance step take their tables from here; no other module spells a table's name next
to its path. The typed silver tables and quarantine are views: their rows are stored in
``silver/events`` (partitioned by ``kind``), so the hot path appends to one silver table
(``pipelines.jobs.tables`` reads and writes views for Spark, :func:`view_sql` for DuckDB).
The catalog knows no Spark session (the DuckDB query layer and the tests use
it too): schemas are Arrow schemas.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from pipelines.core import schemas


@dataclass(frozen=True)
class Table:
    layer: str  # bronze | silver | gold
    name: str
    schema: pa.Schema
    keys: tuple[str, ...]  # what identifies a row (empty: an append-only log)
    holds: str  # one line: what a row is
    partition_by: tuple[str, ...] = ()
    event_type: str | None = None  # the typed silver table of this event type
    window: bool = False  # stream × sliding window aggregates
    writer: str = "pipeline"  # pipeline | quality (gold/quality_runs)
    kind: str | None = None  # a view: the rows of silver/events of this kind (no files)

    @property
    def ref(self) -> str:
        """``layer/name``, as commands and messages name a table."""
        return f"{self.layer}/{self.name}"

    @property
    def is_view(self) -> bool:
        return self.kind is not None

    @property
    def stored(self) -> Table:
        """The table holding this one's rows: itself, or ``silver/events`` for a view."""
        return EVENTS if self.is_view else self

    def path(self, lake_root: str) -> str:
        if self.is_view:
            raise ValueError(
                f"{self.ref} is a view of {EVENTS.ref} (kind {self.kind!r}), not files: "
                "read it with pipelines.jobs.tables.read or catalog.view_sql"
            )
        return f"{lake_root.rstrip('/')}/{self.layer}/{self.name}"


def view_sql(table: Table, source: str) -> str:
    """DuckDB SQL for ``table``'s rows, ``source`` naming what holds them (a registered
    relation, say): a view selects its kind and columns from silver/events."""
    if not table.is_view:
        return f"SELECT * FROM {source}"
    columns = ", ".join(f'"{name}"' for name in table.schema.names)
    return f"SELECT {columns} FROM {source} WHERE kind = '{table.kind}'"


_WINDOW = ("stream_id", "window_start")
_KAFKA = ("topic", "partition", "offset")
EVENTS = Table(
    "silver", "events", schemas.SILVER_EVENTS, _KAFKA,
    "one bronze row's fate: its typed event (kind = event type) or its quarantine row "
    "(kind quarantine); the hot path's one silver append per micro-batch",
    partition_by=("kind",),
)  # fmt: skip
TABLES: tuple[Table, ...] = (
    Table("bronze", "events", schemas.BRONZE_EVENTS, (),
          "one Kafka record: its bytes as received, key and coordinates, ingest time",
          partition_by=("ingest_date",)),
    EVENTS,
    Table("silver", "chat_messages", schemas.CHAT_MESSAGES, ("event_id",),
          "one valid chat event, typed, with sentiment", event_type="chat", kind="chat"),
    Table("silver", "viewer_counts", schemas.VIEWER_COUNTS, ("event_id",),
          "one valid viewer-count event", event_type="viewer", kind="viewer"),
    Table("silver", "transactions", schemas.TRANSACTIONS, ("event_id",),
          "one valid transaction, with its amount in the base currency",
          event_type="transaction", kind="transaction"),
    Table("silver", "stream_meta", schemas.STREAM_META, ("event_id",),
          "one valid stream metadata event", event_type="stream_meta", kind="stream_meta"),
    Table("silver", "quarantine", schemas.QUARANTINE, _KAFKA,
          "one rejected bronze row: reason, detail, raw bytes, Kafka coordinates",
          kind="quarantine"),
    Table("silver", "panes", schemas.PANES, ("stream_id", "pane_start", "batch_id"),
          "one stream's 10-second pane as one micro-batch saw it: additive partials "
          "(the Live page combines them into windows)"),
    Table("silver", "chat_summary_minute", schemas.CHAT_SUMMARY_MINUTE, _WINDOW,
          "chat of a stream in one sliding window", window=True),
    Table("silver", "viewer_timeseries", schemas.VIEWER_TIMESERIES, _WINDOW,
          "viewer counts of a stream in one sliding window", window=True),
    Table("silver", "transactions_minute", schemas.TRANSACTIONS_MINUTE, _WINDOW,
          "revenue of a stream in one sliding window", window=True),
    Table("gold", "stream_minute_metrics", schemas.STREAM_MINUTE_METRICS, _WINDOW,
          "what the dashboard charts: a stream's window, all event types joined"),
    Table("gold", "stream_hour_metrics", schemas.STREAM_HOUR_METRICS,
          ("stream_id", "hour_start"), "a stream's UTC hour, as sums and counts"),
    Table("gold", "moments", schemas.MOMENTS, ("moment_id",),
          "a detected moment: kind, span, peak, score, context"),
    Table("gold", "stream_summary", schemas.STREAM_SUMMARY, ("stream_id", "broadcast_id"),
          "one broadcast of a stream, summed up"),
    Table("gold", "chatters", schemas.CHATTERS, ("stream_id", "user_id"),
          "one user who chatted on a stream, and when they first did"),
    Table("gold", "streams", schemas.STREAMS, ("stream_id",),
          "a stream's latest metadata, live or not, last event time"),
    Table("gold", "quality_runs", schemas.QUALITY_RUNS, ("run_id", "table"),
          "one table's validation in one quality run", writer="quality"),
)  # fmt: skip
_BY_REF = {t.ref: t for t in TABLES}


def table(layer: str, name: str) -> Table:
    found = _BY_REF.get(f"{layer}/{name}")
    if found is None:
        raise ValueError(f"unknown table {layer}/{name}; the lake has {', '.join(_BY_REF)}")
    return found


def layer(name: str) -> tuple[Table, ...]:
    return tuple(t for t in TABLES if t.layer == name)


def typed(event_type: str | None = None) -> tuple[Table, ...]:
    """The typed silver tables (of one event type), in event-type order."""
    return tuple(
        t for t in TABLES
        if t.event_type is not None and (event_type is None or t.event_type == event_type)
    )  # fmt: skip


def stored(layer_name: str) -> tuple[Table, ...]:
    """The tables of a layer that have files of their own (views left out)."""
    return tuple(t for t in layer(layer_name) if not t.is_view)


def windows() -> tuple[Table, ...]:
    """The silver window aggregates (gold follows their change feed)."""
    return tuple(t for t in TABLES if t.window)


def gold() -> tuple[Table, ...]:
    """The gold tables the pipeline keeps (what the query layer serves)."""
    return tuple(t for t in layer("gold") if t.writer == "pipeline")
