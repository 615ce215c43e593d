"""End to end on the real broker and real Spark: producer -> Kafka -> bronze -> silver -> gold.

One hour of two synthetic channels (with injected moments and 2% bad input) is produced
with --fast, the pipeline catches up with availableNow, and then:
- bronze holds every produced record exactly once;
- silver has no duplicate event_id, and silver rows + quarantine rows = bronze rows;
- each kind of bad input is in quarantine under its reason, in the numbers produced;
- the injected moments are found with precision and recall >= 0.9 (±30 s);
- a batch rebuild of silver and gold from the same bronze gives the same tables.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from pipelines.jobs import runner
from pipelines.moment_scoring import Interval, load_truth, score
from pipelines.producer import produce

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

TYPED = ("chat_messages", "viewer_counts", "transactions", "stream_meta")
# Producer's bad-input kind -> the reason silver must give it.
EXPECTED_REASON = {
    "broken_json": "invalid_json",
    "missing_field": "missing_field",
    "wrong_type": "wrong_type",
    "negative_viewers": "negative_value",
    "future_ts": "future_timestamp",
    "oversized": "oversized",
    "unknown_type": "unknown_event_type",
    "duplicate": "duplicate",
}


@pytest.fixture(scope="module")
def produced(spark, kafka_broker, tmp_path_factory):
    """Produce once, run the streaming pipeline once (availableNow) for the module's tests."""
    import uuid

    from pipelines import kafka_local

    root = tmp_path_factory.mktemp("e2e")
    settings = kafka_broker.model_copy(
        update={
            "kafka_topic_prefix": f"e2e{uuid.uuid4().hex[:6]}.events",
            "lake_root": str(root / "lake"),
        }
    )
    kafka_local.ensure_topics(settings)
    truth = root / "truth.jsonl"
    stats = produce(
        settings,
        channels=["alpha", "beta"],
        rate=10.0,
        duration=3600,
        fast=True,
        seed=7,
        bad_ratio=0.02,
        truth_file=truth,
        progress=False,
    )
    runner.run_stream(spark, settings, "all", {"availableNow": True})
    return settings, stats, truth


def _table(spark, settings, layer, name):
    return spark.read.format("delta").load(settings.table_path(layer, name))


def test_bronze_holds_every_record_exactly_once(spark, produced):
    settings, stats, _ = produced
    bronze = _table(spark, settings, "bronze", "events")
    assert bronze.count() == stats.sent
    assert bronze.select("topic", "partition", "offset").distinct().count() == stats.sent
    by_topic = {r["topic"]: r["count"] for r in bronze.groupBy("topic").count().collect()}
    assert by_topic == {settings.topic(t): n for t, n in stats.by_topic.items()}


def test_silver_is_deduplicated_and_accounts_for_every_bronze_row(spark, produced):
    settings, stats, _ = produced
    silver_rows = 0
    for name in TYPED:
        df = _table(spark, settings, "silver", name)
        n = df.count()
        assert df.select("event_id").distinct().count() == n, f"duplicate event_id in {name}"
        silver_rows += n
    quarantined = _table(spark, settings, "silver", "quarantine").count()
    assert silver_rows + quarantined == stats.sent
    assert silver_rows == stats.by_kind["good"]


def test_every_bad_record_is_quarantined_with_its_reason(spark, produced):
    settings, stats, _ = produced
    quarantine = _table(spark, settings, "silver", "quarantine")
    reasons = Counter(
        {r["reason"]: r["count"] for r in quarantine.groupBy("reason").count().collect()}
    )
    expected = Counter()
    for kind, reason in EXPECTED_REASON.items():
        expected[reason] += stats.by_kind.get(kind, 0)
    assert +expected == reasons
    assert all(stats.by_kind.get(k, 0) > 0 for k in EXPECTED_REASON), stats.by_kind
    assert quarantine.filter(F.col("raw_value").isNull()).count() == 0


def test_injected_moments_are_found(spark, produced):
    settings, _, truth = produced
    labels = load_truth(truth)
    assert len(labels) >= 8
    rows = _table(spark, settings, "gold", "moments").collect()
    detected = [Interval(r.stream_id, r.kind, r.start_ts, r.end_ts) for r in rows]
    result = score(detected, labels, tolerance_s=30)
    print(f"moments: {result} precision={result.precision:.2f} recall={result.recall:.2f}")
    assert result.precision >= 0.9
    assert result.recall >= 0.9


def test_batch_rebuild_equals_the_stream(spark, produced, tmp_path):
    settings, _, _ = produced
    rebuilt = settings.model_copy(update={"lake_root": str(tmp_path / "lake")})
    shutil.copytree(
        Path(settings.table_path("bronze", "events")), Path(rebuilt.table_path("bronze", "events"))
    )
    runner.run_batch(spark, rebuilt, "silver")
    runner.run_batch(spark, rebuilt, "gold")
    tables = [
        ("silver", t)
        for t in (
            *TYPED,
            "quarantine",
            "chat_summary_minute",
            "viewer_timeseries",
            "transactions_minute",
        )
    ]
    tables += [
        ("gold", t) for t in ("stream_minute_metrics", "moments", "stream_summary", "streams")
    ]
    for layer, name in tables:
        streamed = _table(spark, settings, layer, name)
        batch = _table(spark, rebuilt, layer, name)
        cols = [
            c for c in streamed.columns if c not in ("updated_at", "detected_at", "quarantined_at")
        ]
        a, b = streamed.select(cols), batch.select(cols)
        assert a.count() == b.count(), f"{layer}/{name} row count differs"
        assert a.exceptAll(b).count() == 0, f"{layer}/{name}: stream rows missing from batch"
        assert b.exceptAll(a).count() == 0, f"{layer}/{name}: batch rows missing from stream"
