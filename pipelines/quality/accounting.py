"""The books of a lake: every Kafka record in bronze once, every bronze row in one silver place.

Read with DuckDB over the Delta tables (``deltalake``, no Spark), so a test or a benchmark
can check a lake between crashes in a second. The figures named in :data:`MUST_BE_ZERO`
are the guarantees; the row counts are for the report.

``in_flight=True`` reads a lake while (or right after) a micro-batch was cut short: the
bronze rows of the newest ingest time may still be on their way to silver, so only the
older ones must be placed; everything else must hold at any moment.
"""

from __future__ import annotations

import duckdb
from deltalake import DeltaTable

from pipelines.config import Settings
from pipelines.core import catalog

TYPED = tuple(t.name for t in catalog.typed())
PLACES = (*TYPED, "quarantine")
MUST_BE_ZERO = (
    "bronze_offset_gaps",  # per Kafka partition, bronze holds offsets first..last
    "bronze_doubled",  # a Kafka record twice in bronze
    "bronze_not_in_silver",  # a bronze row in no silver table and not in quarantine
    "silver_not_in_bronze",  # a silver or quarantine row with no bronze row
    "rows_in_two_places",  # a bronze row in two typed tables, or typed and quarantined
    "event_id_twice",  # one event counted twice in the typed tables
)
_COORDS = 'topic, partition, "offset"'


def lake_books(settings: Settings, in_flight: bool = False) -> dict[str, int]:
    """The figures of :data:`MUST_BE_ZERO`, and the bronze and silver row counts."""
    con = duckdb.connect()
    options = settings.storage_options
    bronze = DeltaTable(settings.table_path("bronze", "events"), storage_options=options)
    con.register("events", bronze.to_pyarrow_dataset())
    silver = DeltaTable(catalog.EVENTS.path(settings.lake_root), storage_options=options)
    silver = silver.to_pyarrow_dataset()
    con.register("silver_events", silver)
    for name in PLACES:  # views of silver/events
        view = catalog.view_sql(catalog.table("silver", name), "silver_events")
        con.execute(f"CREATE VIEW {name} AS {view}")
    placed = " UNION ALL ".join(f"SELECT {_COORDS} FROM {t}" for t in PLACES)
    typed = " UNION ALL ".join(f"SELECT event_id FROM {t}" for t in TYPED)
    settled = "WHERE ingest_time < (SELECT max(ingest_time) FROM events)" if in_flight else ""

    def one(sql: str) -> int:
        return int(con.execute(sql).fetchone()[0] or 0)

    books = {
        "bronze_rows": one("SELECT count(*) FROM events"),
        "silver_rows": one(f"SELECT count(*) FROM ({placed})"),
        "quarantine_rows": one("SELECT count(*) FROM quarantine"),
        "bronze_offset_gaps": one(
            'SELECT sum(gap) FROM (SELECT max("offset") - min("offset") + 1 '
            '- count(DISTINCT "offset") AS gap FROM events GROUP BY topic, partition)'
        ),
        "bronze_doubled": one(f"SELECT count(*) - count(DISTINCT ({_COORDS})) FROM events"),
        "bronze_not_in_silver": one(
            f"SELECT count(*) FROM (SELECT {_COORDS} FROM events {settled} EXCEPT ALL "
            f"SELECT {_COORDS} FROM ({placed}))"
        ),
        "silver_not_in_bronze": one(
            f"SELECT count(*) FROM ({placed} EXCEPT ALL SELECT {_COORDS} FROM events)"
        ),
        "rows_in_two_places": one(f"SELECT count(*) - count(DISTINCT ({_COORDS})) FROM ({placed})"),
        "event_id_twice": one(f"SELECT count(*) - count(DISTINCT event_id) FROM ({typed})"),
    }
    con.close()
    return books


def unbalanced(books: dict[str, int]) -> dict[str, int]:
    """The guarantees a lake's books break (empty: all hold)."""
    return {name: books[name] for name in MUST_BE_ZERO if books[name]}
