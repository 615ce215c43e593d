"""Builders for hand-made bronze rows, shared by the silver tests."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

from pipelines.config import TOPIC_SUFFIX
from pipelines.core.schemas import BRONZE_EVENTS
from pipelines.jobs.spark import small_frame

UTC = timezone.utc
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
TOPICS = {t: f"telemetra.events.{suffix}" for t, suffix in TOPIC_SUFFIX.items()}
# Kafka/ingest time of records unless a test says otherwise: well after the events.
ARRIVAL = T0 + timedelta(minutes=10)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


_PAYLOADS = {
    "chat": {
        "user_id": "u1",
        "username": "alice",
        "message": "hello",
        "emotes": [],
        "badges": ["subscriber"],
    },
    "viewer": {"viewer_count": 100},
    "transaction": {
        "user_id": "u1",
        "tx_type": "donation",
        "amount": 5.0,
        "currency": "USD",
        "tier": None,
        "gift_count": None,
    },
    "stream_meta": {
        "status": "live",
        "title": "t",
        "category": "c",
        "language": "en",
        "started_at": "2026-11-26T11:00:00.000Z",
    },
}


def event(event_type: str, event_id: str, ts: datetime, stream: str = "s1", **fields) -> dict:
    """A good event of ``event_type``; ``fields`` override (or add) payload fields."""
    envelope = {
        "event_id": event_id,
        "event_type": event_type,
        "stream_id": stream,
        "ts": iso(ts),
        "schema_version": 1,
    }
    return {**envelope, **_PAYLOADS[event_type], **fields}


def encode(value) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def record(
    value,
    topic_type: str,
    offset: int,
    *,
    partition: int = 0,
    key: str | None = "s1",
    kafka_ts: datetime | None = ARRIVAL,
    ingest: datetime = ARRIVAL,
) -> tuple:
    """One bronze row (BRONZE_EVENTS order); ``value`` is a dict (JSON-encoded) or bytes."""
    return (
        key,
        encode(value),
        TOPICS.get(topic_type, topic_type),
        partition,
        offset,
        kafka_ts,
        ingest,
        date(ingest.year, ingest.month, ingest.day),
    )


def frame(spark, rows: list[tuple], schema):
    """Inline rows as a JVM-held DataFrame (Arrow): no Python worker on every scan."""
    return small_frame(spark, rows, schema)


def bronze_df(spark, records: list[tuple]):
    return frame(spark, records, BRONZE_EVENTS)
