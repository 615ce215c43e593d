"""The runner's own choices: how a --trigger is read, the queries each layer runs, and the
session a streaming query gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.jobs import runner
from pipelines.jobs.spark import session_conf


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, {"processingTime": "5 seconds"}),
        ("availableNow", {"availableNow": True}),
        ("processing:10s", {"processingTime": "10 seconds"}),
        ("processing:500ms", {"processingTime": "500 milliseconds"}),
        ("processing:2m", {"processingTime": "2 minutes"}),
        ("processing:7", {"processingTime": "7 seconds"}),
    ],
)
def test_parse_trigger(text, expected, base_settings):
    settings = base_settings.model_copy(update={"spark_trigger_seconds": 5})
    assert runner.parse_trigger(text, settings) == expected


@pytest.mark.parametrize("text", ["once", "processing:", "processing:5h", "10s"])
def test_parse_trigger_rejects_what_it_cannot_read(text, base_settings):
    with pytest.raises(ValueError, match="--trigger"):
        runner.parse_trigger(text, base_settings)


def test_the_queries_of_each_layer():
    assert runner.queries_for("all") == ("medallion", "settle")  # the hot path, then settling
    assert runner.queries_for("gold") == ("settle",)
    assert runner.queries_for("silver") == ("silver",)
    assert runner.queries_for("bronze") == ("bronze",)
    assert runner.queries_for("hot") == ("medallion",)  # the stack runs settle apart
    assert runner.layers_for("hot") == ("bronze", "silver")  # its batch rebuild
    with pytest.raises(ValueError, match="layer must be one of"):
        runner.queries_for("settle")


@pytest.mark.parametrize("ran", ["medallion", "silver"])
def test_the_settle_query_runs_whichever_way_silver_is_fed(spark, settings, ran):
    """`run gold` follows silver's typed tables, which `run all` and `run silver` both feed:
    it is never refused as a second feed, and keeps a checkpoint of its own."""
    (Path(settings.checkpoint_path(ran)) / "offsets").mkdir(parents=True)
    runner.run_stream(spark, settings, "gold", {"availableNow": True})
    assert (Path(settings.checkpoint_path("settle")) / "metadata").is_file()
    assert not Path(settings.checkpoint_path("gold")).exists()


def _plan(session) -> str:
    return (
        session.range(10)
        .filter("id > 3")
        .selectExpr("id * 2 AS x")
        ._jdf.queryExecution()
        .executedPlan()
        .toString()
    )


def test_streaming_session_interprets_and_leaves_the_callers_session_alone(spark, settings):
    spark = spark.newSession()  # the tests' own session interprets too (conftest)
    spark.conf.set("spark.sql.codegen.factoryMode", "FALLBACK")  # Spark's default
    streaming = runner.streaming_session(spark, settings)

    assert streaming.conf.get("spark.sql.codegen.factoryMode") == "NO_CODEGEN"
    # Whole-stage code generation marks its stages with "*(n)" in the physical plan: the
    # interpreted mode turns it off as well.
    assert "*(" not in _plan(streaming)
    assert spark.conf.get("spark.sql.codegen.factoryMode") != "NO_CODEGEN"
    assert "*(" in _plan(spark)
    assert streaming.sparkContext is spark.sparkContext


def test_spark_conf_wins_over_the_streaming_session_defaults(spark, settings):
    keep = settings.model_copy(update={"spark_conf": {"spark.sql.codegen.factoryMode": "FALLBACK"}})
    streaming = runner.streaming_session(spark, keep)

    assert streaming.conf.get("spark.sql.codegen.factoryMode") == "FALLBACK"
    assert "*(" in _plan(streaming)


def test_session_conf_puts_back_what_was_there(spark):
    spark = spark.newSession()
    spark.conf.set("spark.sql.shuffle.partitions", "3")
    absent = "spark.telemetra.test.absent"
    with session_conf(spark, {"spark.sql.shuffle.partitions": "11", absent: "x"}):
        assert spark.conf.get("spark.sql.shuffle.partitions") == "11"
        assert spark.conf.get(absent) == "x"
    assert spark.conf.get("spark.sql.shuffle.partitions") == "3"
    assert spark.conf.get(absent, None) is None


def test_a_failed_batch_rebuild_leaves_the_session_settings_as_they_were(spark, settings):
    spark = spark.newSession()
    spark.conf.set("spark.databricks.delta.autoCompact.enabled", "true")
    seen = {}

    def gate(session, _settings, layer):  # the quality gate's place: before each layer
        seen[layer] = session.conf.get("spark.databricks.delta.autoCompact.enabled")
        raise RuntimeError("gate closed")

    with pytest.raises(RuntimeError, match="gate closed"):
        runner.run_batch(spark, settings, "silver", before=gate)
    assert seen == {"silver": "false"}  # the rebuild's own setting while it ran
    assert spark.conf.get("spark.databricks.delta.autoCompact.enabled") == "true"


def test_kafka_lag_sums_latest_minus_end_over_partitions():
    from types import SimpleNamespace

    from pipelines.jobs.runner import kafka_lag

    kafka = SimpleNamespace(
        description="KafkaV2[Subscribe[t.chat, t.viewer]]",
        endOffset='{"t.chat": {"0": 100, "1": 50}, "t.viewer": {"0": 7}}',
        latestOffset='{"t.chat": {"0": 160, "1": 50}, "t.viewer": {"0": 10}}',
    )
    delta = SimpleNamespace(description="DeltaSource[file:/lake]", endOffset="{}",
                            latestOffset=None)  # fmt: skip
    assert kafka_lag([kafka]) == 63
    assert kafka_lag([delta]) is None
    assert kafka_lag([delta, kafka]) == 63
