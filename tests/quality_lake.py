"""A small, consistent lake for the quality tests: every table, clean, plus broken variants.

All rows are written through the real schemas. Kafka partition 0 of each topic; the
silver rows and the quarantine row carry the coordinates of their bronze row, so the
volume check balances: per topic, bronze offsets 0..n-1 are each in exactly one silver
table or the quarantine.

Clean lake, stream ``alpha`` (live), T0 = ten minutes ago on a 10 s boundary:
- chat offsets 0-2 -> chat_messages c1-c3; chat offset 3 -> quarantine (invalid_json)
- viewer offsets 0-1 -> viewer_counts v1 (100), v2 (0)
- transactions offset 0 -> t1 (donation 5.00 EUR = 5.40 USD)
- stream_meta offset 0 -> m1 (live)
So bronze has 8 rows, 1 quarantined: rate 1/8 = 0.125 (tests set the ceiling to 0.2).

Each ``BREAKS`` entry appends rows (bronze and silver alike, so only the intended
expectation can notice) and names the one expectation that must fail.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from pyspark.sql import SparkSession

from pipelines.config import Settings
from pipelines.core import schemas
from pipelines.jobs import tables
from pipelines.transforms.common import spark_type

UTC = timezone.utc


def t0() -> datetime:
    now = datetime.now(UTC).replace(microsecond=0)
    return now - timedelta(minutes=10, seconds=now.second % 10)


def _bronze(settings: Settings, event_type: str, offset: int, value: bytes, at: datetime) -> tuple:
    return ("alpha", value, settings.topic(event_type), 0, offset, at, at, at.date())


def _lineage(settings: Settings, event_type: str, offset: int, at: datetime) -> tuple:
    return (settings.topic(event_type), 0, offset, at)


def _event(event_id: str, event_type: str, **payload) -> bytes:
    return json.dumps({"event_id": event_id, "event_type": event_type, **payload}).encode()


def clean_tables(settings: Settings, t: datetime) -> dict[str, tuple]:
    """{"layer/table": (schema, rows)} of the clean lake."""
    s = settings
    sec = [t + timedelta(seconds=i) for i in range(60)]
    end = t + timedelta(seconds=60)
    emotes = [("Kappa", 2)]
    # fmt: off
    chat = [
        ("c1", "alpha", sec[5], "u1", "ann", "hi Kappa", ["Kappa"], ["subscriber"], 0.5),
        ("c2", "alpha", sec[6], "u2", "bob", "meh", [], [], -0.2),
        ("c3", "alpha", sec[7], "u1", "ann", "Kappa", ["Kappa"], None, None),
    ]
    bronze = [_bronze(s, "chat", i, _event(r[0], "chat"), sec[1]) for i, r in enumerate(chat)]
    bronze += [
        _bronze(s, "chat", 3, b"{not json", sec[1]),
        _bronze(s, "viewer", 0, _event("v1", "viewer"), sec[1]),
        _bronze(s, "viewer", 1, _event("v2", "viewer"), sec[1]),
        _bronze(s, "transaction", 0, _event("t1", "transaction"), sec[1]),
        _bronze(s, "stream_meta", 0, _event("m1", "stream_meta"), sec[1]),
    ]
    return {
        "bronze/events": (schemas.BRONZE_EVENTS, bronze),
        "silver/chat_messages": (schemas.CHAT_MESSAGES,
            [r + _lineage(s, "chat", i, sec[1]) for i, r in enumerate(chat)]),
        "silver/viewer_counts": (schemas.VIEWER_COUNTS, [
            ("v1", "alpha", sec[2], 100) + _lineage(s, "viewer", 0, sec[1]),
            ("v2", "alpha", sec[20], 0) + _lineage(s, "viewer", 1, sec[1])]),
        "silver/transactions": (schemas.TRANSACTIONS, [
            ("t1", "alpha", sec[9], "u2", "donation", Decimal("5.00"), "EUR", None, None,
             Decimal("5.40")) + _lineage(s, "transaction", 0, sec[1])]),
        "silver/stream_meta": (schemas.STREAM_META, [
            ("m1", "alpha", sec[0], "live", "Alpha", "Celeste", "en", sec[0])
            + _lineage(s, "stream_meta", 0, sec[1])]),
        "silver/quarantine": (schemas.QUARANTINE, [
            ("invalid_json", "not a JSON object", "chat", None, "alpha", b"{not json")
            + _lineage(s, "chat", 3, sec[1])[:3] + (sec[1], sec[1])]),
        "silver/chat_summary_minute": (schemas.CHAT_SUMMARY_MINUTE, [
            ("alpha", t, end, 3, 2, emotes, 0.15, 1, 1),
            ("alpha", sec[10], sec[10] + timedelta(seconds=60), 0, 0, [], None, 0, 0)]),
        "silver/viewer_timeseries": (schemas.VIEWER_TIMESERIES, [
            ("alpha", t, end, 50.0, 0, 100, 0, 2)]),
        "silver/transactions_minute": (schemas.TRANSACTIONS_MINUTE, [
            ("alpha", t, end, 1, Decimal("5.40"), 0, Decimal("0"), 0, Decimal("0"), 0,
             Decimal("0"), 1, Decimal("5.40"), "USD")]),
        "silver/panes": (schemas.PANES, [
            # [t, t+10 s): c1-c3, v1, t1, m1; [t+20 s, t+30 s): v2
            ("alpha", t, sec[10], 0, 6, sec[0], sec[9], sec[0], sec[1], 3, ["u1", "u2"],
             Decimal("0.3"), 2, 1, 1, emotes, 1, 100, 100, 100,
             sec[2], sec[1], s.topic("viewer"), 0, 0, 100, 1, Decimal("5.40"),
             0, None, 0, None, 0, None, 1, Decimal("5.40"), 1),
            ("alpha", sec[20], sec[30 - 1] + timedelta(seconds=1), 0, 1, sec[20], sec[20],
             sec[20], sec[1], 0, None, None, 0, 0, 0, [], 1, 0, 0, 0,
             sec[20], sec[1], s.topic("viewer"), 0, 1, 0, 0, None,
             0, None, 0, None, 0, None, 0, None, 0)]),
        "gold/stream_minute_metrics": (schemas.STREAM_MINUTE_METRICS, [
            ("alpha", t, end, 50.0, 100, 0, 3, 2, 0.15, 1, 1, emotes, 1, Decimal("5.40"))]),
        "gold/stream_hour_metrics": (schemas.STREAM_HOUR_METRICS, [
            ("alpha", t.replace(minute=0, second=0, microsecond=0), 1, t, end, 100,
             Decimal("50.000000"), 1, 3, 3, 1, Decimal("5.40"), Decimal("0.450000"), 3)]),
        "gold/moments": (schemas.MOMENTS, [
            ("m-1", "alpha", "chat_spike", sec[5], sec[30], sec[10], 3.0, 5.2, 0.5, 0.5, emotes,
             ["hi Kappa"])]),
        "gold/stream_summary": (schemas.STREAM_SUMMARY, [
            ("alpha", "alpha-b1", sec[0], None, "Alpha", "Celeste", 100, 50.0, 3, 2,
             Decimal("5.40"), emotes, 1, 2, 0)]),
        "gold/chatters": (schemas.CHATTERS, [("alpha", "u1", sec[5]), ("alpha", "u2", sec[6])]),
        "gold/streams": (schemas.STREAMS, [
            ("alpha", "live", "Alpha", "Celeste", "en", sec[0], sec[20])]),
    }
    # fmt: on


def write_tables(spark: SparkSession, settings: Settings, contents: dict, mode: str) -> None:
    """``contents``: {"layer/name": (schema, rows)}, written in that order."""
    for ref, (schema, rows) in contents.items():
        df = spark.createDataFrame(rows, spark_type(schema)).coalesce(1)
        tables.write(df, settings.lake_root, ref, mode)


def break_tables(settings: Settings, kind: str, t: datetime) -> dict[str, tuple]:
    """Rows to append for a broken variant (bronze rows included, so volume balances)."""
    s, at = settings, t + timedelta(seconds=40)
    B = schemas.BRONZE_EVENTS
    # fmt: off
    if kind == "duplicate_event_ids":  # c1 again, at a new offset: silver did not dedupe
        return {
            "bronze/events": (B, [_bronze(s, "chat", 4, _event("c1", "chat"), at)]),
            "silver/chat_messages": (schemas.CHAT_MESSAGES, [
                ("c1", "alpha", t + timedelta(seconds=5), "u1", "ann", "hi Kappa", ["Kappa"],
                 ["subscriber"], 0.5) + _lineage(s, "chat", 4, at)]),
        }
    if kind == "negative_viewers":
        return {
            "bronze/events": (B, [_bronze(s, "viewer", 2, _event("v3", "viewer"), at)]),
            "silver/viewer_counts": (schemas.VIEWER_COUNTS, [
                ("v3", "alpha", at, -5) + _lineage(s, "viewer", 2, at)]),
        }
    if kind == "unknown_currency":
        return {
            "bronze/events": (B, [_bronze(s, "transaction", 1, _event("t2", "transaction"), at)]),
            "silver/transactions": (schemas.TRANSACTIONS, [
                ("t2", "alpha", at, "u1", "donation", Decimal("3.00"), "XYZ", None, None,
                 Decimal("3.00")) + _lineage(s, "transaction", 1, at)]),
        }
    if kind == "stale_stream":  # beta went live three hours ago and has said nothing since
        old = datetime.now(UTC) - timedelta(hours=3)
        return {
            "bronze/events": (B, [_bronze(s, "stream_meta", 1, _event("m2", "stream_meta"), at)]),
            "silver/stream_meta": (schemas.STREAM_META, [
                ("m2", "beta", old, "live", "Beta", "Chess", "de", old)
                + _lineage(s, "stream_meta", 1, at)]),
        }
    if kind == "quarantine_flood":  # five more bad chat records: 6 of 13 quarantined
        offsets = range(4, 9)
        return {
            "bronze/events": (B, [_bronze(s, "chat", o, b"\x00", at) for o in offsets]),
            "silver/quarantine": (schemas.QUARANTINE, [
                ("invalid_json", None, "chat", None, "alpha", b"\x00")
                + _lineage(s, "chat", o, at)[:3] + (at, at) for o in offsets]),
        }
    if kind == "lost_record":  # chat offset 4 is in neither silver nor quarantine; 5 is
        return {
            "bronze/events": (B, [_bronze(s, "chat", 4, _event("c4", "chat"), at),
                                  _bronze(s, "chat", 5, _event("c5", "chat"), at)]),
            "silver/chat_messages": (schemas.CHAT_MESSAGES, [
                ("c5", "alpha", at, "u3", "cid", "hey", [], [], 0.0) + _lineage(s, "chat", 5, at)]),
        }
    # fmt: on
    raise ValueError(kind)


# kind -> (suite, label, severity) of the one expectation it must fail
# fmt: off
BREAKS = {
    "duplicate_event_ids": (
        "silver.chat_messages", "expect_column_values_to_be_unique(event_id)", "critical"),
    "negative_viewers": (
        "silver.viewer_counts", "expect_column_values_to_be_between(viewer_count)", "critical"),
    "unknown_currency": (
        "silver.transactions", "expect_column_values_to_be_in_set(currency)", "critical"),
    "stale_stream": (
        "silver.freshness", "expect_column_values_to_be_between(age_seconds)", "warning"),
    "quarantine_flood": (
        "silver.quarantine_rate", "expect_column_values_to_be_between(quarantine_rate)",
        "critical"),
    "lost_record": (
        "silver.volume", "expect_column_pair_values_to_be_equal(bronze_rows vs accounted_rows)",
        "critical"),
}
# fmt: on
