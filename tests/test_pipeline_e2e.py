"""End to end on the real broker and real Spark: producer -> Kafka -> bronze -> silver -> gold.

One hour of two synthetic channels (with injected moments and 2% bad input) is produced
with --fast, the pipeline catches up with availableNow, and then:
- bronze holds every produced record exactly once;
- silver has no duplicate event_id, and silver rows + quarantine rows = bronze rows;
- each kind of bad input is in quarantine under its reason, in the numbers produced;
- the injected moments are found: recall >= 0.9, precision >= 0.6 (±30 s; see below);
- a batch rebuild of silver and gold from the same bronze gives the same tables.
"""

from __future__ import annotations

from collections import Counter

import pytest
from kafka_helpers import with_fresh_topics
from lake_checks import (
    REASON_OF_KIND,
    assert_batch_rebuild_equals,
    assert_bronze_exactly_once,
    assert_silver_accounts_for_bronze,
    expected_reasons,
    read_table,
)
from pyspark.sql import functions as F

from pipelines.jobs import runner
from pipelines.jobs.spark import session_conf
from pipelines.serving.moment_eval import Interval, load_labels, score
from pipelines.sim.producer import produce

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def produced(spark, kafka_broker, tmp_path_factory):
    """Produce once, run the streaming pipeline once (availableNow) for the module's tests."""
    root = tmp_path_factory.mktemp("e2e")
    settings = with_fresh_topics(kafka_broker, root, "e2e")
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


def test_bronze_holds_every_record_exactly_once(spark, produced):
    settings, stats, _ = produced
    assert_bronze_exactly_once(spark, settings, stats)


def test_silver_is_deduplicated_and_accounts_for_every_bronze_row(spark, produced):
    settings, stats, _ = produced
    assert_silver_accounts_for_bronze(spark, settings, stats)


def test_every_bad_record_is_quarantined_with_its_reason(spark, produced):
    settings, stats, _ = produced
    quarantine = read_table(spark, settings, "silver", "quarantine")
    reasons = Counter(
        {r["reason"]: r["count"] for r in quarantine.groupBy("reason").count().collect()}
    )
    print(f"produced: {stats}; quarantine by reason: {dict(reasons)}")
    assert expected_reasons(stats.by_kind) == reasons
    assert all(stats.by_kind.get(k, 0) > 0 for k in REASON_OF_KIND), stats.by_kind
    assert quarantine.filter(F.col("raw_value").isNull()).count() == 0


def test_injected_moments_are_found(spark, produced):
    settings, _, truth = produced
    labels = load_labels(truth)
    assert len(labels) >= 8
    rows = read_table(spark, settings, "gold", "moments").collect()
    detected = [Interval(r.stream_id, r.kind, r.start_ts, r.end_ts, r.score) for r in rows]
    result = score(detected, labels, tolerance_s=30)
    print(f"moments: {result} precision={result.precision:.2f} recall={result.recall:.2f}")
    # Ten labels are too few to hold 0.8 (test_moment_quality.py does, on 4 channels × 2 h):
    # here 13 moments for 10 labels (9 found); the extras are two chat spikes, a revenue
    # burst on one large early donation and a sentiment swing where an organic burst
    # moved the mood (bench/moments.py --names alpha,beta --hours 1 --seed 7
    # gives the same). The floor keeps what holds today: a fast span ends on a whole minute,
    # so the seed lands on the same 10-s grid every run (it did not: 8 of 10 in one CI run).
    assert result.recall >= 0.9
    assert result.precision >= 0.6


def test_batch_rebuild_equals_the_stream(spark, produced, tmp_path):
    settings, _, _ = produced
    # The rebuild as production runs it: generated code (the test session interprets).
    with session_conf(spark, {"spark.sql.codegen.factoryMode": "FALLBACK"}):
        assert_batch_rebuild_equals(spark, settings, tmp_path)
