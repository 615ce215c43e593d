"""Checks every end-to-end run of the pipeline must pass, whatever ran it (local mode, the
standalone cluster, a run with faults): bronze holds each produced record exactly once,
silver has no duplicate event_id and, with quarantine, accounts for every bronze row, and a
batch rebuild from the same bronze gives the same silver and gold.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.config import Settings
from pipelines.core import catalog
from pipelines.jobs import runner, tables
from pipelines.sim.producer import ProduceStats

TYPED = tuple(t.name for t in catalog.typed())
SILVER_TABLES = (*TYPED, "quarantine", *(t.name for t in catalog.windows()))
GOLD_TABLES = tuple(t.name for t in catalog.gold())
# Set when a row is written, so a rebuild differs there by design.
WRITE_TIME_COLUMNS = ("updated_at", "detected_at", "quarantined_at")


def read_table(spark: SparkSession, settings: Settings, layer: str, name: str) -> DataFrame:
    return tables.read(spark, settings.lake_root, f"{layer}/{name}")


def assert_bronze_exactly_once(
    spark: SparkSession, settings: Settings, stats: ProduceStats
) -> None:
    """Every produced record is in bronze once: by count, by Kafka coordinates, per topic."""
    bronze = read_table(spark, settings, "bronze", "events")
    assert bronze.count() == stats.sent
    assert bronze.select("topic", "partition", "offset").distinct().count() == stats.sent
    by_topic = {r["topic"]: r["count"] for r in bronze.groupBy("topic").count().collect()}
    assert by_topic == {settings.topic(t): n for t, n in stats.by_topic.items()}


def assert_silver_accounts_for_bronze(
    spark: SparkSession, settings: Settings, stats: ProduceStats
) -> None:
    """No duplicate event_id in a typed table; typed rows are the good records produced, and
    typed + quarantined rows are all of them (duplicates are quarantined, not dropped)."""
    silver_rows = 0
    for name in TYPED:
        df = read_table(spark, settings, "silver", name)
        n = df.count()
        assert df.select("event_id").distinct().count() == n, f"duplicate event_id in {name}"
        silver_rows += n
    quarantined = read_table(spark, settings, "silver", "quarantine").count()
    assert silver_rows + quarantined == stats.sent
    assert silver_rows == stats.by_kind["good"]


def assert_batch_rebuild_equals(spark: SparkSession, settings: Settings, tmp_path: Path) -> None:
    """Silver and gold rebuilt in batch from a copy of this bronze equal the streamed ones.
    A lake on S3 is rebuilt beside itself, its bronze copied row for row by Spark."""
    source = settings.table_path("bronze", "events")
    if settings.lake_root.startswith("s3a://"):
        rebuilt = settings.model_copy(update={"lake_root": f"{settings.lake_root}-rebuilt"})
        target = rebuilt.table_path("bronze", "events")
        spark.read.format("delta").load(source).write.format("delta").save(target)
    else:
        rebuilt = settings.model_copy(update={"lake_root": str(tmp_path / "lake")})
        shutil.copytree(Path(source), Path(rebuilt.table_path("bronze", "events")))
    runner.run_batch(spark, rebuilt, "silver")
    runner.run_batch(spark, rebuilt, "gold")
    tables = [("silver", t) for t in (*SILVER_TABLES, "panes")] + [("gold", t) for t in GOLD_TABLES]
    for layer, name in tables:
        streamed = read_table(spark, settings, layer, name)
        batch = read_table(spark, rebuilt, layer, name)
        if name == "panes":  # a pane's partials differ by micro-batch: compare their totals
            streamed, batch = pane_totals(streamed), pane_totals(batch)
        cols = [c for c in streamed.columns if c not in WRITE_TIME_COLUMNS]
        a, b = streamed.select(cols), batch.select(cols)
        assert a.count() == b.count(), f"{layer}/{name} row count differs"
        assert a.exceptAll(b).count() == 0, f"{layer}/{name}: stream rows missing from batch"
        assert b.exceptAll(a).count() == 0, f"{layer}/{name}: batch rows missing from stream"


def pane_totals(panes: DataFrame) -> DataFrame:
    """One row per stream and pane: the sums of its partials, its distinct chatters."""
    sums = [F.sum(c).alias(c) for c in ("events", "chat_count", "sentiment_sum", "sentiment_n",
                                        "viewer_samples", "viewer_sum", "tx_count", "revenue",
                                        "meta_count")]  # fmt: skip
    return panes.groupBy("stream_id", "pane_start").agg(
        *sums,
        F.min("first_ts").alias("first_ts"),
        F.max("last_ts").alias("last_ts"),
        F.sort_array(F.array_distinct(F.flatten(F.collect_list("chatters")))).alias("chatters"),
    )


# The producer's bad-input kinds -> the reason silver must give each (added for the fault
# tests, which mix in raw junk of their own).
REASON_OF_KIND = {
    "broken_json": "invalid_json",
    "missing_field": "missing_field",
    "wrong_type": "wrong_type",
    "negative_viewers": "negative_value",
    "future_ts": "future_timestamp",
    "oversized": "oversized",
    "unknown_type": "unknown_event_type",
    "duplicate": "duplicate",
}


def expected_reasons(by_kind: Counter) -> Counter:
    """Quarantine rows per reason that the producer's ``by_kind`` counts call for."""
    expected = Counter()
    for kind, reason in REASON_OF_KIND.items():
        expected[reason] += by_kind.get(kind, 0)
    return +expected
