"""Data quality: the suites of conf/quality.yaml, their runner, reports, summary table and gate.

The Spark tests share one hand-made lake (``quality_lake``): clean, every suite passes;
each broken variant appends a few rows that break one rule, and exactly the expectation
for that rule must fail.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from quality_lake import BREAKS, break_tables, clean_tables, t0, write_tables

from pipelines.config import Settings
from pipelines.core import catalog
from pipelines.quality import quality, quality_job
from pipelines.quality.quality_report import Outcome, QualityReport, TableResult
from pipelines.quality.quality_suites import QualityConfigError, load_suites

# The hand-made lake quarantines 1 of 8 records and was written minutes before the run.
QUALITY = {
    "quality_max_quarantine_rate": 0.2,
    "quality_freshness_max_age_seconds": 3600,
    "quality_quarantine_lookback_minutes": 24 * 60,
}
GOLD = ("stream_minute_metrics", "stream_hour_metrics", "moments", "stream_summary", "streams")
SLOW = pytest.mark.timeout(2400)  # a loaded 2-core machine: a Spark run takes minutes


def _labels(suites) -> dict[str, dict[str, str]]:
    """suite -> {label: severity}"""
    return {s.name: {e.label: e.severity for e in s.expectations} for s in suites}


# ---- the suites as configuration (no Spark) ------------------------------------------------
def test_every_lake_table_has_a_suite_and_the_checks_exist(base_settings):
    suites = load_suites(base_settings)
    tables = {(s.layer, s.table) for s in suites if not s.check}
    expected = {(t.layer, t.name) for t in catalog.TABLES}
    assert tables == expected - {("gold", "quality_runs")}
    checks = {s.name for s in suites if s.check}
    assert checks == {"silver.volume", "silver.quarantine_rate", "silver.freshness"}
    assert all(any(e.severity == "critical" for e in s.expectations) or s.table == "freshness"
               for s in suites)  # fmt: skip


def test_suites_declare_the_rules_of_the_issue(base_settings):
    settings = base_settings.model_copy(
        update={"quality_max_quarantine_rate": 0.07, "window_seconds": 30, "slide_seconds": 5}
    )
    suites = {s.name: s for s in load_suites(settings)}
    labels = _labels(suites.values())
    for table in ("chat_messages", "viewer_counts", "transactions", "stream_meta"):
        unique = labels[f"silver.{table}"]["expect_column_values_to_be_unique(event_id)"]
        assert unique == "critical"
    assert labels["gold.moments"]["expect_column_values_to_be_unique(moment_id)"] == "critical"
    assert labels["gold.moments"]["expect_column_values_to_not_be_null(moment_id)"] == "critical"
    viewers = next(e for e in suites["silver.viewer_counts"].expectations
                   if e.label == "expect_column_values_to_be_between(viewer_count)")  # fmt: skip
    assert viewers.kwargs == {"column": "viewer_count", "min_value": 0}
    amount = next(e for e in suites["silver.transactions"].expectations
                  if e.label == "expect_column_values_to_be_between(amount)")  # fmt: skip
    assert amount.kwargs["strict_min"] is True and amount.kwargs["min_value"] == 0
    currency = next(e for e in suites["silver.transactions"].expectations
                    if e.label == "expect_column_values_to_be_in_set(currency)")  # fmt: skip
    assert {"USD", "EUR", "JPY"} <= set(currency.kwargs["value_set"])
    assert "XYZ" not in currency.kwargs["value_set"]
    window = next(e for e in suites["gold.stream_minute_metrics"].expectations
                  if e.type == "unexpected_rows_expectation")  # fmt: skip
    # window_seconds 30 and slide 5 from the settings, substituted into the SQL.
    assert "<> 30 * 1000000" in window.kwargs["unexpected_rows_query"]
    assert "% (5 * 1000000)" in window.kwargs["unexpected_rows_query"]
    pair = "expect_column_pair_values_a_to_be_greater_than_b(chat_count vs unique_chatters)"
    assert labels["silver.chat_summary_minute"][pair] == "critical"
    rate = suites["silver.quarantine_rate"].expectations[0]
    assert rate.kwargs["max_value"] == 0.07 and rate.severity == "critical"
    assert suites["silver.freshness"].expectations[0].severity == "warning"
    topics = next(e for e in suites["bronze.events"].expectations
                  if e.label == "expect_column_values_to_be_in_set(topic)")  # fmt: skip
    assert topics.kwargs["value_set"] == settings.topics


def test_every_expectation_is_a_valid_ge_expectation(base_settings):
    for suite in load_suites(base_settings):
        for spec in suite.expectations:
            built = quality._expectation(suite, spec)
            assert built.severity.value == spec.severity
            assert spec.label in built.description  # Data Docs show the label


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{type: expect_column_values_to_not_be_null, kwargs: {column: x}, severity: fatal}",
         "severity must be critical or warning"),
        ("{type: expect_column_values_to_be_in_set, severity: critical,"
         " kwargs: {column: x, value_set: '${nope}'}}", "unknown parameter ${nope}"),
        ("{type: expect_column_values_to_not_be_null, severity: warning, kwarg: {}}",
         "unknown keys"),
    ],
)  # fmt: skip
def test_malformed_suites_are_rejected_with_the_entry_named(
    base_settings, tmp_path, entry, message
):
    path = tmp_path / "quality.yaml"
    path.write_text(f"tables:\n  silver:\n    chat_messages:\n      - {entry}\n")
    with pytest.raises(QualityConfigError, match="silver.chat_messages\\[0\\]") as info:
        load_suites(base_settings, path=path)
    assert message in str(info.value)


def test_an_unknown_expectation_type_is_a_config_error(base_settings, tmp_path):
    path = tmp_path / "quality.yaml"
    entry = "{type: expect_the_unexpected, severity: critical, kwargs: {}}"
    path.write_text(f"tables:\n  gold:\n    streams:\n      - {entry}\n")
    (suite,) = load_suites(base_settings, path=path)
    with pytest.raises(QualityConfigError, match="gold.streams: expect_the_unexpected"):
        quality._expectation(suite, suite.expectations[0])


def test_reports_live_beside_a_local_lake_and_under_run_dir_for_a_remote_one(base_settings):
    local = base_settings.model_copy(update={"lake_root": "/data/lake"})
    assert quality.reports_dir(local) == Path("/data/lake/reports")
    remote = base_settings.model_copy(update={"lake_root": "s3a://bucket/lake"})
    assert quality.reports_dir(remote) == remote.run_path / "reports"
    chosen = base_settings.model_copy(update={"quality_reports_dir": "/srv/reports"})
    assert quality.reports_dir(chosen) == Path("/srv/reports")


def test_report_summary_rows_and_failures():
    bad = Outcome("silver.x", "expect_column_values_to_be_unique(event_id)", "critical", False,
                  "2 unexpected")  # fmt: skip
    warn = Outcome("silver.x", "expect_column_values_to_be_between(s)", "warning", False)
    ok = Outcome("silver.x", "expect_column_values_to_not_be_null(event_id)", "critical", True)
    results = [
        TableResult("silver", "x", "done", (bad, warn, ok), row_count=5, report_path="/r/x.html"),
        TableResult("silver", "y", "done", (ok,), row_count=0),
        TableResult("gold", "z", "missing"),
        TableResult("gold", "w", "done", (warn,), row_count=1),
    ]
    report = QualityReport("run-1", datetime(2026, 1, 1, tzinfo=timezone.utc), "all", results,
                           "/r/index.html")  # fmt: skip
    assert [r.status for r in results] == ["failed", "passed", "missing", "warning"]
    assert [r.success for r in results] == [False, True, None, True]
    assert not report.success
    assert report.critical_failures == [
        "silver.x: expect_column_values_to_be_unique(event_id) [critical]"
    ]
    assert len(report.warnings) == 2
    assert report.summary_rows()[0] == ("silver.x", "failed", "1/3", "1", "1", "5", "/r/x.html")
    assert report.summary_rows()[2] == ("gold.z", "missing", "0/0", "0", "0", "", "")
    text = str(report)
    assert "FAILED silver.x: expect_column_values_to_be_unique(event_id) [critical]" in text
    assert text.splitlines()[-1] == "quality all: FAILED; report: /r/index.html"
    row = report.rows()[0]
    assert row[2:13] == ("silver", "x", "silver.x", "failed", False, 3, 1, 2, 1, 1,
                         ["expect_column_values_to_be_unique(event_id) [critical]",
                          "expect_column_values_to_be_between(s) [warning]"])  # fmt: skip


# ---- runs on Spark -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pristine(spark, base_settings, tmp_path_factory) -> tuple[Path, datetime]:
    """The clean lake, written once; tests copy it before changing or validating it."""
    root = tmp_path_factory.mktemp("quality") / "pristine"
    settings = base_settings.model_copy(update={"lake_root": str(root), **QUALITY})
    start = t0()
    write_tables(spark, settings, clean_tables(settings, start), "overwrite")
    return root, start


def _lake(spark, pristine, base_settings, tmp_path, kind: str | None = None) -> Settings:
    root, start = pristine
    shutil.copytree(root, tmp_path / "lake")
    settings = base_settings.model_copy(update={"lake_root": str(tmp_path / "lake"), **QUALITY})
    if kind:
        write_tables(spark, settings, break_tables(settings, kind, start), "append")
    return settings


def _version(spark, settings: Settings, layer: str, table: str) -> int:
    path = settings.table_path(layer, table)
    return DeltaTable.forPath(spark, path).history(1).first()["version"]


@SLOW
def test_clean_lake_passes_every_suite_and_records_the_run(
    spark, pristine, base_settings, tmp_path
):
    settings = _lake(spark, pristine, base_settings, tmp_path)
    quality_job.gate(spark, settings, "silver")  # bronze passes
    quality_job.gate(spark, settings, "gold")  # silver and the checks pass
    report = quality.run_quality(spark, settings, "gold")
    assert report.success and not report.warnings, str(report)
    assert [r.status for r in report.results] == ["passed"] * 6
    assert Path(report.report_path).is_file()
    assert all(Path(r.report_path).is_file() for r in report.results)

    runs = spark.read.format("delta").load(settings.table_path("gold", "quality_runs"))
    rows = {r["suite"]: r for r in runs.collect()}
    assert (
        len(rows) == 20 and runs.count() == 20
    )  # 1 bronze + 10 silver + 3 checks + 6 gold, once each
    assert {r["status"] for r in rows.values()} == {"passed"}
    assert rows["bronze.events"]["row_count"] == 8
    assert rows["silver.quarantine_rate"]["observed_value"] == pytest.approx(1 / 8)
    assert rows["silver.volume"]["observed_value"] == 0.0  # no bronze row unaccounted
    assert rows["silver.volume"]["row_count"] == 4  # one per topic
    assert rows["gold.moments"]["failed_expectations"] == []


@SLOW
@pytest.mark.parametrize("kind", list(BREAKS))
def test_broken_input_fails_exactly_its_expectation(spark, pristine, base_settings, tmp_path, kind):
    suite, label, severity = BREAKS[kind]
    settings = _lake(spark, pristine, base_settings, tmp_path, kind)
    report = quality.run_quality(spark, settings, "silver")

    failed = [o.name for r in report.results for o in r.outcomes if not o.success]
    assert failed == [f"{suite}: {label} [{severity}]"], str(report)
    assert not [r for r in report.results if r.status in ("error", "missing")]
    assert report.success is (severity == "warning")
    page = Path(report.result(suite).report_path)
    assert page.is_file() and label in page.read_text(encoding="utf-8")


@SLOW
def test_silver_ahead_of_bronze_is_not_a_loss(spark, pristine, base_settings, tmp_path):
    """The hot query appends a batch's bronze and silver rows side by side: a check may see
    the silver half first. Chat offset 5 is in silver and not (yet) in bronze."""
    settings = _lake(spark, pristine, base_settings, tmp_path)
    ahead = break_tables(settings, "lost_record", t0())["silver/chat_messages"]
    write_tables(spark, settings, {"silver/chat_messages": ahead}, "append")
    report = quality.run_quality(spark, settings, "silver")
    volume = report.result("silver.volume")
    assert volume.status == "passed" and volume.observed_value == 0.0, str(report)


@SLOW
def test_gate_stops_the_gold_rebuild_and_leaves_gold_unchanged(
    spark, pristine, base_settings, tmp_path
):
    settings = _lake(spark, pristine, base_settings, tmp_path, "duplicate_event_ids")
    before = {t: _version(spark, settings, "gold", t) for t in GOLD}

    with pytest.raises(quality_job.QualityGateError) as info:
        quality_job.run_batch_gated(spark, settings, "gold")

    message = str(info.value)
    assert "stopped the gold rebuild before writing" in message
    assert "silver.chat_messages: expect_column_values_to_be_unique(event_id) [critical]" in message
    page = message.rsplit("Report: ", 1)[1]
    assert "silver/chat_messages" in page and Path(page).is_file()
    assert "\n" not in message
    assert {t: _version(spark, settings, "gold", t) for t in GOLD} == before


# ---- the app page ------------------------------------------------------------------------
@SLOW
def test_quality_page_shows_latest_runs_failures_quarantine_and_report(
    spark, base_settings, tmp_path, monkeypatch
):
    from streamlit.testing.v1 import AppTest

    from pipelines.core.schemas import QUARANTINE

    settings = base_settings.model_copy(update={"lake_root": str(tmp_path / "lake")})
    page = tmp_path / "page.html"
    page.write_text("<html>report</html>")
    bad = Outcome("silver.chat_messages", "expect_column_values_to_be_unique(event_id)",
                  "critical", False)  # fmt: skip
    ok = Outcome("gold.streams", "expect_column_values_to_be_unique(stream_id)", "critical", True)
    older = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    newer = datetime(2026, 1, 1, 12, 5, tzinfo=timezone.utc)
    for run_id, at, chat in (("r1", older, (ok,)), ("r2", newer, (bad, ok))):
        results = [
            TableResult("silver", "chat_messages", "done", chat, row_count=3,
                        report_path=str(page)),
            TableResult("gold", "streams", "done", (ok,), row_count=1),
        ]  # fmt: skip
        report = QualityReport(run_id, at, "all", results, str(tmp_path / "index.html"))
        quality.write_quality_runs(spark, settings, report)
    ingest = datetime.now(timezone.utc)
    quarantine = [
        ("invalid_json", None, "chat", None, "alpha", b"{", "t", 0, 1, None, ingest),
        ("invalid_json", None, "chat", None, "alpha", b"{", "t", 0, 2, None, ingest),
        ("duplicate", None, "viewer", "v1", "alpha", b"{}", "t", 0, 3, None, ingest),
    ]
    write_tables(spark, settings, {"silver/quarantine": (QUARANTINE, quarantine)}, "overwrite")
    monkeypatch.setenv("TELEMETRA_LAKE_ROOT", settings.lake_root)

    at = AppTest.from_file("../streamlit_app/app.py", default_timeout=120).run()
    at.switch_page("views/quality.py").run()
    assert not at.exception, [e.value for e in at.exception]
    shown = {m.label: m.value for m in at.metric}
    # Latest per table: chat_messages failed in r2 (1 critical), streams passed.
    assert shown["Tables passing"] == "1 / 2"
    assert shown["Critical failures"] == "1"
    latest = at.dataframe[0].value
    assert latest["suite"].tolist() == ["silver.chat_messages", "gold.streams"]
    assert latest["critical_failed"].tolist() == [1, 0]
    assert latest["report"].tolist()[0] == page.as_uri()
    reasons = at.dataframe[1].value
    assert reasons[["reason", "event_type", "records"]].values.tolist() == [
        ["invalid_json", "chat", 2],
        ["duplicate", "viewer", 1],
    ]
    assert at.selectbox(key="q_report").value == "silver.chat_messages"
    assert any("expect_column_values_to_be_unique(event_id)" in m.value for m in at.markdown)


# ---- a lake the pipeline built -------------------------------------------------------------
@pytest.mark.integration
@SLOW
def test_a_lake_the_pipeline_built_from_generated_events_passes(spark, settings):
    """Generated events (2% bad input) as bronze rows, then the real silver and gold batch
    jobs: every suite passes, nothing warns."""
    from collections import Counter
    from datetime import timedelta

    from spark_schemas import BRONZE_EVENTS

    from pipelines.jobs import bronze_job, gold_job, silver_job
    from pipelines.sim.event_codec import from_ms
    from pipelines.sim.events import generate

    ingest = datetime.now(timezone.utc).replace(microsecond=0)
    records = generate(["alpha", "beta"], 4.0, ingest - timedelta(minutes=15), ingest, seed=7,
                       bad_ratio=0.02)  # fmt: skip
    offsets: Counter = Counter()
    rows = []
    for rec in records:
        topic = settings.topic(rec.topic_type)
        rows.append((rec.key, rec.value, topic, 0, offsets[topic], from_ms(rec.ts_ms), ingest,
                     ingest.date()))  # fmt: skip
        offsets[topic] += 1
    bronze_job.ensure_table(spark, settings)
    spark.createDataFrame(rows, BRONZE_EVENTS).write.format("delta").mode("append").save(
        bronze_job.bronze_path(settings)
    )
    silver_job.run_batch(spark, settings)
    gold_job.run_batch(spark, settings)

    report = quality.run_quality(spark, settings, "all")
    assert report.success and not report.warnings, str(report)
    assert {r.status for r in report.results} == {"passed"}
    assert 0 < report.result("silver.quarantine_rate").observed_value < 0.05


@SLOW
def test_the_scheduled_loop_records_every_run(spark, base_settings, tmp_path):
    """Two runs a second apart on a lake with only bronze: two runs recorded, the other
    tables reported missing (not failed)."""
    settings = base_settings.model_copy(update={"lake_root": str(tmp_path / "lake"), **QUALITY})
    tables = clean_tables(settings, t0())
    write_tables(spark, settings, {"bronze/events": tables["bronze/events"]}, "overwrite")

    quality_job.quality_loop(settings, 1, spark=spark, runs=2)

    runs = spark.read.format("delta").load(settings.table_path("gold", "quality_runs"))
    counts = runs.groupBy("run_id").count().collect()
    # Each run: 1 bronze + 10 silver + 3 checks + 6 gold suites.
    assert len(counts) == 2 and {r["count"] for r in counts} == {20}
    statuses = {(r["suite"], r["status"]) for r in runs.select("suite", "status").collect()}
    assert ("bronze.events", "passed") in statuses
    assert ("gold.moments", "missing") in statuses
    assert ("silver.volume", "missing") not in statuses  # bronze exists: volume is computed
