"""A small, hand-designed gold lake for the query, app and browser tests.

Written with Spark through the real table schemas, so the Delta tables look exactly like
the ones the gold job writes. Every number here is chosen by hand; the expected values
the tests assert are worked out from these rows in the comments of ``tests/test_queries.py``.

Three streams:
- ``alpha``: live, 8 sliding windows (60 s long, sliding 10 s) from 17:00:00 to 17:01:10
  (all complete: its newest event, 17:02:25, is past their ends),
  a raid at 17:00:50; two broadcasts (today's live one and yesterday's).
- ``beta``: offline, 4 windows around 13:00, one with no chat at all (nulls), a
  revenue burst at 13:00.
- ``gamma``: offline, metadata only (no metrics, no title), ended more recently than
  alpha's last event, so "live first" is visible in the stream order.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pyspark.sql import SparkSession

from pipelines.core import schemas
from pipelines.transforms.common import spark_type
from pipelines.transforms.gold import rollup_hours

UTC = timezone.utc
DAY = datetime(2026, 11, 26, tzinfo=UTC)
ALPHA_T0 = DAY.replace(hour=17)  # first alpha window
BETA_T0 = DAY.replace(hour=12, minute=59)  # first beta window

ALPHA_BROADCAST = "alpha-20261126T1630"
ALPHA_OLD_BROADCAST = "alpha-20261125T1800"
BETA_BROADCAST = "beta-20261126T1200"


def at(hour: int, minute: int, second: int = 0, day: datetime = DAY) -> datetime:
    return day.replace(hour=hour, minute=minute, second=second)


def _emotes(*pairs: tuple[str, int]) -> list[tuple[str, int]]:
    return list(pairs)


# (offset s, avg, max, last, chat, unique, sentiment, pos, neg, top_emotes, tx, revenue)
ALPHA_WINDOWS = [
    (0, 100.0, 110, 105, 12, 8, 0.10, 5, 2, _emotes(("Kappa", 6), ("PogChamp", 3)), 1, "5.00"),
    (10, 102.0, 112, 108, 14, 9, 0.20, 6, 2, _emotes(("Kappa", 7), ("PogChamp", 4)), 1, "5.00"),
    (20, 104.0, 115, 110, 15, 10, 0.15, 7, 3, _emotes(("Kappa", 8), ("LUL", 2)), 0, "0.00"),
    (30, 106.0, 118, 112, 16, 10, 0.05, 6, 4, _emotes(("Kappa", 8), ("LUL", 3)), 0, "0.00"),
    (40, 110.0, 125, 120, 20, 12, 0.30, 10, 2, _emotes(("PogChamp", 9), ("Kappa", 8)), 2,
     "12.50"),
    (50, 150.0, 260, 250, 45, 30, 0.60, 30, 3, _emotes(("PogChamp", 20), ("Kappa", 10)), 3,
     "20.00"),
    (60, 240.0, 300, 290, 60, 40, 0.70, 45, 5,
     _emotes(("PogChamp", 25), ("LUL", 8), ("Kappa", 4)), 4, "30.00"),
    (70, 260.0, 305, 300, 50, 35, 0.40, 30, 6, _emotes(("PogChamp", 18), ("Kappa", 6)), 2, "25.00"),
]  # fmt: skip
BETA_WINDOWS = [
    (0, 40.0, 42, 41, 5, 4, -0.20, 1, 3, _emotes(("NotLikeThis", 3), ("Kappa", 1)), 1, "4.99"),
    (10, 41.0, 43, 42, 6, 4, -0.10, 1, 2, _emotes(("NotLikeThis", 3)), 0, "0.00"),
    (20, 39.0, 41, 38, 0, 0, None, 0, 0, [], 0, None),  # no chat, no sales: nulls
    (60, 30.0, 35, 25, 2, 2, 0.50, 2, 0, None, 1, "100.00"),
]  # fmt: skip


def _metric_rows(stream_id: str, t0: datetime, windows: list[tuple]) -> list[tuple]:
    rows = []
    for offset, avg, mx, last, chat, uniq, sent, pos, neg, emotes, tx, revenue in windows:
        start = t0 + timedelta(seconds=offset)
        rows.append(
            (stream_id, start, start + timedelta(seconds=60), avg, mx, last, chat, uniq, sent,
             pos, neg, emotes, tx, None if revenue is None else Decimal(revenue))
        )  # fmt: skip
    return rows


MOMENT_ROWS = [
    ("m-alpha-raid", "alpha", "raid", at(17, 0, 50), at(17, 2), at(17, 1), 300.0, 6.5,
     110.0, 7.5, _emotes(("PogChamp", 25), ("LUL", 8)), ["raid hype!", "welcome raiders"]),
    ("m-alpha-chat", "alpha", "chat_spike", at(17, 0, 50), at(17, 1, 20), at(17, 1), 60.0,
     4.8, 15.0, 2.0, _emotes(("PogChamp", 25)), ["PogChamp PogChamp"]),
    ("m-beta-rev", "beta", "revenue_burst", at(13, 0), at(13, 1), at(13, 0), 100.0, 4.2,
     2.0, 2.0, None, []),
]  # fmt: skip

SUMMARY_ROWS = [
    ("alpha", ALPHA_BROADCAST, at(16, 30), None, "Alpha plays Celeste", "Celeste", 305,
     152.75, 232, 95, Decimal("35.00"), _emotes(("PogChamp", 28), ("Kappa", 10), ("LUL", 8)), 2,
     60, 35),
    ("alpha", ALPHA_OLD_BROADCAST, at(18, 0, day=DAY - timedelta(days=1)),
     at(21, 0, day=DAY - timedelta(days=1)), "Alpha speedruns", "Celeste", 500, 320.5, 4100,
     610, Decimal("250.00"), _emotes(("Kappa", 900)), 0, 610, 0),
    ("beta", BETA_BROADCAST, at(12, 0), at(13, 0, 30), "Beta chats", "Just Chatting", 43, 37.5,
     13, 7, Decimal("104.99"), _emotes(("NotLikeThis", 3), ("Kappa", 1)), 1, 7, 0),
]  # fmt: skip

STREAM_ROWS = [
    ("alpha", "live", "Alpha plays Celeste", "Celeste", "en", at(16, 30), at(17, 2, 25)),
    ("beta", "offline", "Beta chats", "Just Chatting", "de", at(12, 0), at(13, 0, 30)),
    ("gamma", "offline", None, None, None, None, at(17, 20)),
]

CHATTER_ROWS = [  # a few chatters' first messages
    ("alpha", "a1", at(18, 5, day=DAY - timedelta(days=1))),
    ("alpha", "a2", at(17, 0, 40)),
    ("beta", "b1", at(12, 0, 10)),
]

GOLD_ROWS = {
    "stream_minute_metrics": (
        schemas.STREAM_MINUTE_METRICS,
        _metric_rows("alpha", ALPHA_T0, ALPHA_WINDOWS)
        + _metric_rows("beta", BETA_T0, BETA_WINDOWS),
    ),
    "moments": (schemas.MOMENTS, MOMENT_ROWS),
    "stream_summary": (schemas.STREAM_SUMMARY, SUMMARY_ROWS),
    "streams": (schemas.STREAMS, STREAM_ROWS),
    "chatters": (schemas.CHATTERS, CHATTER_ROWS),
}


def write_one_stream(
    spark: SparkSession, lake_root: str, stream: tuple | None, windows: list[tuple]
) -> None:
    """A gold lake of one stream: its ``streams`` row (none when None) and its minute windows
    (stream, start, end, avg, max, last viewers, chat, unique, sentiment, +, -, emotes,
    sales, revenue)."""
    tables = [("stream_minute_metrics", schemas.STREAM_MINUTE_METRICS, windows)]
    if stream is not None:
        tables.append(("streams", schemas.STREAMS, [stream]))
    for name, schema, rows in tables:
        spark.createDataFrame(rows, spark_type(schema)).write.format("delta").save(
            f"{lake_root}/gold/{name}"
        )


def write_gold_fixture(spark: SparkSession, lake_root: str, tables: tuple[str, ...] = ()) -> str:
    """Write the fixture's gold tables (all, or only ``tables``) under ``lake_root``;
    ``stream_hour_metrics`` is the gold job's own rollup of the minute rows."""
    frames = {name: spark.createDataFrame(rows, spark_type(schema)) 
              for name, (schema, rows) in GOLD_ROWS.items()}  # fmt: skip
    frames["stream_hour_metrics"] = rollup_hours(frames["stream_minute_metrics"])
    for name, frame in frames.items():
        if tables and name not in tables:
            continue
        frame.coalesce(1).write.format("delta").mode("overwrite").save(
            f"{lake_root.rstrip('/')}/gold/{name}"
        )
    return lake_root


@pytest.fixture(scope="session")
def gold_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The fixture lake, written once per test run (several test modules share it).

    Tests only read it; one that needs to change a table writes a lake of its own.
    """
    root = tmp_path_factory.getbasetemp() / "gold_fixture_lake"
    if not (root / "gold" / "streams" / "_delta_log").is_dir():
        write_gold_fixture(spark, str(root))
    return str(root)
