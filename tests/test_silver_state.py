"""The silver stream's driver-side state: lateness maxima, recent ids, eviction, rebuild."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
from pyspark.sql import functions as F

from pipelines.core import catalog
from pipelines.jobs.silver_state import SilverState, accepted
from pipelines.transforms.common import spark_type

S = 1_000_000  # µs per second


def valid(*rows: tuple[str, str, str, int, bool]) -> pa.Table:
    """(event_type, event_id, stream_id, ts in s, candidate) rows, as process_bronze collects."""
    columns = list(zip(*rows, strict=True))
    return pa.table(
        {
            "event_type": pa.array(columns[0], pa.string()),
            "event_id": pa.array(columns[1], pa.string()),
            "stream_id": pa.array(columns[2], pa.string()),
            "ts_us": pa.array([t * S for t in columns[3]], pa.int64()),
            "candidate": pa.array(columns[4], pa.bool_()),
        }
    )


def test_maxima_move_with_valid_rows_and_ids_with_accepted_ones():
    state = SilverState(watermark_seconds=100)
    batch = valid(
        ("chat", "a", "s1", 1000, True),
        ("chat", "b", "s1", 1010, False),  # late or a copy: moves the max, not remembered
        ("viewer", "c", "s2", 500, True),
    )
    state.advance(batch, accepted(batch, set()))
    assert state.max_us == {"s1": 1010 * S, "s2": 500 * S}
    assert set(state.seen) == {("chat", "a"), ("viewer", "c")}
    # The next batch: a copy of a, and a new chat event with a viewer's id.
    nxt = valid(("chat", "a", "s1", 1000, True), ("chat", "c", "s2", 501, True))
    assert state.known(nxt) == {("chat", "a")}
    assert accepted(nxt, {("chat", "a")}).column("event_id").to_pylist() == ["c"]


def test_ids_older_than_the_watermark_are_let_go_once_the_max_moved_a_quarter():
    state = SilverState(watermark_seconds=100)
    first = valid(("chat", "old", "s1", 1000, True), ("chat", "new", "s1", 1090, True))
    state.advance(first, accepted(first, set()))
    # The max moves 1090 -> 1115: 25 s is not more than a quarter of 100 s, nothing goes.
    step = valid(("chat", "x", "s1", 1115, True))
    state.advance(step, accepted(step, set()))
    assert ("chat", "old") in state.seen
    # 1090 -> 1120 is 30 s: ids older than 1120 - 100 = 1020 go ("old" at 1000).
    step = valid(("chat", "y", "s1", 1120, True))
    state.advance(step, accepted(step, set()))
    assert set(state.seen) == {("chat", "new"), ("chat", "x"), ("chat", "y")}


def test_a_rebuild_reads_only_rows_of_earlier_batches(spark, tmp_path):
    """Rows ingested at or after the batch's first ingest time are the batch's own (a
    crashed first attempt committed them): a replay must not see them as history."""
    t0 = datetime(2026, 1, 1, 12, 0, 0)
    events = spark_type(catalog.EVENTS.schema)
    rows = [
        # kind, event_id, stream_id, ts, reason, ingest_time
        ("chat", "e1", "s1", t0, None, t0),
        ("chat", "e0", "s1", t0 - timedelta(seconds=300), None, t0),  # beyond the watermark
        ("quarantine", "e9", "s1", t0 + timedelta(seconds=50), "duplicate", t0),
        ("quarantine", "bad", "s1", None, "invalid_json", t0),
        ("viewer", "e2", "s2", t0 + timedelta(seconds=5), None, t0 + timedelta(seconds=60)),
    ]
    df = spark.createDataFrame(
        [dict(zip(("kind", "event_id", "stream_id", "ts", "reason", "ingest_time"), r,
                  strict=True)) for r in rows]
    )  # fmt: skip
    df = df.select(*[(F.col(f.name) if f.name in df.columns else F.lit(None))
                     .cast(f.dataType).alias(f.name) for f in events])  # fmt: skip
    path = str(tmp_path / "events")
    df.write.format("delta").partitionBy("kind").save(path)
    state = SilverState(watermark_seconds=120)
    state.load(spark, path, before=t0 + timedelta(seconds=60))
    epoch = datetime(1970, 1, 1)
    # The duplicate's ts counts for the max; the viewer row is this batch's own.
    assert state.max_us == {"s1": int((t0 - epoch).total_seconds() + 50) * S}
    assert set(state.seen) == {("chat", "e1")}
    assert state.loaded
