"""Faults and bad input on the real broker and real Spark (issue 7).

One produced dataset serves the crash and bad-input tests: a minute of two
channels with 10% bad records, after a flood of raw junk (bytes that are not UTF-8, ~1 MB
records, a null and an empty value). The broker outage, retention and lateness tests need
topics (or a broker) of their own and a few dozen records each.

Covered elsewhere, so not repeated: each producer bad kind under its reason (2%, one hour:
test_pipeline_e2e), the lateness and dedupe rules row by row (test_silver,
test_silver_job), bound parameters on simple injections (test_queries), a lost Spark
worker (test_cluster).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fault_helpers import (
    age_out,
    delta_rows,
    end_offsets,
    run_cli,
    send_raw,
    wait_for,
    with_extra,
)
from gold_fixture import gold_lake  # noqa: F401 (fixture)
from kafka_helpers import LocalBroker, free_port_pair, with_fresh_topics
from lake_checks import (
    assert_batch_rebuild_equals,
    assert_bronze_exactly_once,
    assert_silver_accounts_for_bronze,
    expected_reasons,
    read_table,
)
from pyspark.sql import functions as F
from silver_fixture import event

from pipelines.jobs import medallion_job, runner, settle_job
from pipelines.jobs.maintain import maintain_lake
from pipelines.serving.queries import (
    GOLD_SCHEMAS,
    GoldQueries,
    QueryError,
    QueryInputError,
    quarantine_reasons,
)
from pipelines.sim.event_codec import encode_event
from pipelines.sim.producer import produce

AVAILABLE_NOW = {"availableNow": True}
EVERY_SECOND = {"processingTime": "1 seconds"}
MB = 1024 * 1024


def _own_topics(broker_settings, root):
    return with_fresh_topics(broker_settings, root, "fault")


def _junk() -> tuple[list[tuple[str, str, bytes | None]], Counter]:
    """Raw records no producer would send, and the quarantine reasons they must get."""
    big_chat = event("chat", "big-1", datetime.now(timezone.utc), stream="alpha",
                     message="x" * MB)  # fmt: skip
    records = [
        *[("chat", "alpha", b"\xff\xfe" + bytes(range(i, i + 40))) for i in range(10)],
        *[("viewer", "beta", b"\xc3\x28" + b"\x80" * i) for i in range(10)],
        ("viewer", "alpha", b"\xff" * MB),  # 1 MB, not UTF-8
        ("chat", "alpha", encode_event(big_chat)),  # 1 MB of valid JSON
        ("chat", "beta", b"[" * (MB + 10)),  # 1 MB of broken JSON
        ("chat", "alpha", None),  # a tombstone
        ("viewer", "beta", b""),
        ("transaction", "alpha", b"[1, 2, 3]"),
    ]
    return records, Counter(not_utf8=21, oversized=2, invalid_json=3)


@pytest.fixture(scope="module")
def flood(kafka_broker, tmp_path_factory):
    """Junk first, then 1 minute × 2 channels at 5 events/s with 10% bad records.

    Returns (settings, stats of everything sent, quarantine rows expected per reason)."""
    settings = _own_topics(kafka_broker, tmp_path_factory.mktemp("flood"))
    records, junk_reasons = _junk()
    send_raw(settings, records)
    stats = produce(settings, channels=["alpha", "beta"], rate=5.0, duration=60, fast=True,
                    seed=3, bad_ratio=0.1, progress=False)  # fmt: skip
    total = with_extra(stats, Counter(event_type for event_type, _, _ in records))
    return settings, total, expected_reasons(stats.by_kind) + junk_reasons


# ---- 1. kill -9: tests/test_crash_boundaries.py (after every commit) and bench/soak.py ------
# ---- 3. the flood of bad input -------------------------------------------------------------
@pytest.fixture(scope="module")
def flooded(spark, flood, tmp_path_factory):
    """The flood carried through the pipeline (one availableNow run, in this process)."""
    base, _, _ = flood
    settings = base.model_copy(update={"lake_root": str(tmp_path_factory.mktemp("flood") / "lake")})
    runner.run_stream(spark, settings, "all", AVAILABLE_NOW)
    return settings


def _reasons(spark, settings) -> Counter:
    quarantine = read_table(spark, settings, "silver", "quarantine")
    return Counter(
        {r["reason"]: r["count"] for r in quarantine.groupBy("reason").count().collect()}
    )


@pytest.mark.integration
@pytest.mark.timeout(1800)
def test_a_flood_of_bad_input_is_quarantined_with_reasons(spark, flood, flooded):
    _, stats, expected = flood
    settings = flooded
    assert_bronze_exactly_once(spark, settings, stats)
    assert_silver_accounts_for_bronze(spark, settings, stats)
    assert _reasons(spark, settings) == expected
    quarantine = read_table(spark, settings, "silver", "quarantine")
    # Bytes are kept as received: the three 1 MB records whole, null only for the tombstone.
    assert quarantine.filter(F.length("raw_value") >= MB).count() == 3
    assert quarantine.filter(F.col("raw_value").isNull()).count() == 1


# ---- 2. the broker goes away and comes back ---------------------------------------------------
@pytest.fixture
def own_broker(base_settings, tmp_path):
    (tmp_path / "kafka").mkdir()
    broker = LocalBroker(base_settings, tmp_path / "kafka")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.mark.integration
@pytest.mark.timeout(1800)
def test_broker_restart_while_the_stream_runs(spark, own_broker, tmp_path):
    settings = _own_topics(own_broker.settings, tmp_path)
    stats = produce(settings, ["alpha"], rate=5.0, count=100, fast=True, seed=1, progress=False)
    query = medallion_job.start_stream(spark, settings, EVERY_SECOND)  # what `run all` runs
    bronze = settings.table_path("bronze", "events")
    try:
        wait_for(lambda: delta_rows(bronze) == stats.sent, 180, "bronze to take the first part")
        own_broker.stop()
        time.sleep(20)  # many triggers meet the outage
        # It waits for the broker, or it fails with a reason; it never just stops.
        failure = query.exception()
        assert query.isActive or failure is not None
        own_broker.start()
        stats.add(produce(settings, ["beta"], rate=5.0, count=100, fast=True, seed=2,
                          progress=False))  # fmt: skip
        wait_for(lambda: delta_rows(bronze) == stats.sent or not query.isActive, 240,
                 "bronze to catch up after the outage")  # fmt: skip
        still_running = query.isActive
    finally:
        query.stop()
    assert still_running, f"the stream died of the outage: {query.exception()}"
    runner.run_stream(spark, settings, "all", AVAILABLE_NOW)
    assert_bronze_exactly_once(spark, settings, stats)
    assert_silver_accounts_for_bronze(spark, settings, stats)


@pytest.mark.integration
def test_a_batch_run_without_a_broker_fails_in_one_line(settings):
    nobody = f"127.0.0.1:{free_port_pair()}"
    result = run_cli(settings.model_copy(update={"kafka_bootstrap_servers": nobody}),
                     "run", "all", "--mode", "batch", TELEMETRA_KAFKA_WAIT_SECONDS="3")  # fmt: skip
    assert result.returncode != 0
    assert f"Kafka at {nobody} did not answer within 3s" in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "at org.apache" not in result.stderr


# ---- 5. Kafka retention overtakes a stopped pipeline --------------------------------------------
def _bronze_offsets(spark, settings) -> dict[tuple[str, int], list[int]]:
    rows = read_table(spark, settings, "bronze", "events").select("topic", "partition", "offset")
    found: dict[tuple[str, int], list[int]] = {}
    for r in rows.collect():
        found.setdefault((r["topic"], r["partition"]), []).append(r["offset"])
    return {tp: sorted(offsets) for tp, offsets in found.items()}


def _some(settings, seed: int):
    return produce(settings, ["alpha"], rate=5.0, count=30, fast=True, seed=seed, progress=False)


@pytest.mark.integration
@pytest.mark.timeout(1800)
def test_retention_overtaking_a_stopped_pipeline(spark, kafka_settings):
    settings = kafka_settings
    _some(settings, seed=1)
    runner.run_stream(spark, settings, "bronze", AVAILABLE_NOW)
    read_up_to = end_offsets(settings)
    _some(settings, seed=2)  # never read: retention takes it while the pipeline is stopped
    aged_out_to = end_offsets(settings)
    age_out(settings, aged_out_to)
    _some(settings, seed=3)
    ends = end_offsets(settings)
    with pytest.raises(RuntimeError, match="--allow-data-loss"):
        runner.run_stream(spark, settings, "bronze", AVAILABLE_NOW)
    result = run_cli(settings, "run", "bronze", "--trigger", "availableNow", "--allow-data-loss")
    assert result.returncode == 0, result.stderr[-3000:]
    expected = {
        (tp.topic, tp.partition): [*range(read_up_to[tp]), *range(aged_out_to[tp], end)]
        for tp, end in ends.items()
        if end
    }
    assert _bronze_offsets(spark, settings) == expected
    assert "lost" in result.stderr.lower(), result.stderr[-3000:]


# ---- 4. late events ------------------------------------------------------------------------------
def _chat(event_id: str, ts: datetime) -> tuple[str, str, bytes]:
    value = event("chat", event_id, ts, stream="latecomer", user_id=event_id, username=event_id)
    return "chat", "latecomer", encode_event(value)


def _window_counts(times: list[datetime], window_s: int = 60, slide_s: int = 10) -> dict:
    """chat_count per window start, counted by hand from event times."""
    counts: Counter = Counter()
    for t in times:
        start = t.replace(microsecond=0) - timedelta(seconds=t.second % slide_s)
        for k in range(window_s // slide_s):
            counts[start - timedelta(seconds=k * slide_s)] += 1
    return dict(counts)


def _chat_counts(spark, settings, layer: str, table: str) -> dict:
    rows = read_table(spark, settings, layer, table).filter(F.col("chat_count") > 0).collect()
    return {r["window_start"].replace(tzinfo=timezone.utc): r["chat_count"] for r in rows}


@pytest.mark.integration
@pytest.mark.timeout(1800)
def test_late_events_update_their_windows_or_are_counted_late(spark, kafka_settings):
    settings = kafka_settings
    t0 = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=15)
    on_time = [t0 + timedelta(seconds=10 * i) for i in range(31)]  # t0 .. t0 + 300 s
    send_raw(settings, [_chat(f"c{i}", t) for i, t in enumerate(on_time)])
    runner.run_stream(spark, settings, "all", AVAILABLE_NOW)
    assert _chat_counts(spark, settings, "silver", "chat_summary_minute") == _window_counts(on_time)
    # 100 s behind the stream's newest event (within the 120 s watermark), and 200 s behind.
    within, late = t0 + timedelta(seconds=200.5), t0 + timedelta(seconds=100.5)
    send_raw(settings, [_chat("within", within), _chat("late", late)])
    runner.run_stream(spark, settings, "all", AVAILABLE_NOW)
    expected = _window_counts([*on_time, within])
    assert _chat_counts(spark, settings, "silver", "chat_summary_minute") == expected
    assert _chat_counts(spark, settings, "gold", "stream_minute_metrics") == expected
    quarantine = read_table(spark, settings, "silver", "quarantine").collect()
    assert [(r["event_id"], r["reason"]) for r in quarantine] == [("late", "late")]
    assert read_table(spark, settings, "bronze", "events").count() == 33
    reasons = quarantine_reasons(settings.lake_root)  # what the data-quality page shows
    assert reasons[["reason", "records"]].values.tolist() == [["late", 1]]


# ---- 6. OPTIMIZE and VACUUM while the stream writes ----------------------------------------------
# An append-only table the hot query writes, and a table every settle micro-batch rewrites part
# of with replaceWhere (the case where a concurrent OPTIMIZE can conflict). The other tables are
# written one of these two ways; maintaining them too took about 45 s each beside the stream, for
# no new case.
MAINTAINED = ("bronze/events", "gold/stream_minute_metrics")


@pytest.mark.integration
@pytest.mark.timeout(1800)
def test_optimize_and_vacuum_while_the_stream_writes(spark, kafka_settings, tmp_path):
    settings = kafka_settings.model_copy(update={"settle_seconds": 1})
    stats = produce(settings, ["alpha"], rate=5.0, count=100, fast=True, seed=1, progress=False)
    # What `run all` runs: the hot query and, beside it, the settle query.
    query = medallion_job.start_stream(spark, settings, EVERY_SECOND)
    settle = settle_job.start_stream(spark, settings, EVERY_SECOND)
    queries = (query, settle)
    bronze = settings.table_path("bronze", "events")
    gold = settings.table_path("gold", "stream_minute_metrics")
    try:
        # Maintenance starts once the first data is through all layers: beside the first
        # micro-batches (JVM warm-up) everything crawled on 2 cores.
        wait_for(lambda: delta_rows(gold) > 0 or not all(q.isActive for q in queries), 600,
                 "the first rows in gold")  # fmt: skip
        stats.add(produce(settings, ["beta"], rate=5.0, count=150, fast=True, seed=2,
                          progress=False))  # fmt: skip
        # `telemetra maintain` (OPTIMIZE, VACUUM at the safe retention) while both queries
        # write the second part.
        reports = list(maintain_lake(spark, settings, only=MAINTAINED))
        wait_for(lambda: delta_rows(bronze) == stats.sent or not query.isActive, 300,
                 "bronze to take the second part")  # fmt: skip
        for q in queries:
            wait_for(lambda q=q: q.status["isTriggerActive"] is False or not q.isActive, 300,
                     f"the {q.name} micro-batch in flight to finish")  # fmt: skip
        failures = {q.name: q.exception() for q in queries if q.exception() is not None}
    finally:
        for q in queries:
            q.stop()
    assert not failures, f"a micro-batch failed beside maintain: {failures}"
    assert [line.split(":")[0] for line in reports] == list(MAINTAINED)
    runner.run_stream(spark, settings, "all", AVAILABLE_NOW)  # the rest, if any
    assert_bronze_exactly_once(spark, settings, stats)
    assert_silver_accounts_for_bronze(spark, settings, stats)
    assert_batch_rebuild_equals(spark, settings, tmp_path / "rebuild")


def test_maintain_names_an_unknown_table(settings):
    with pytest.raises(ValueError, match="unknown table.*gold/nope.*the lake has bronze/events"):
        list(maintain_lake(None, settings, only=["gold/nope", "gold/moments"]))


# ---- 7. the query layer given hostile input -----------------------------------------------------
HOSTILE = [
    "alpha' OR '1'='1",
    "alpha'; DROP TABLE streams; --",
    'alpha" OR "1"="1',
    "alpha\\'; SELECT * FROM read_csv('/etc/passwd'); --",
    "$stream_id",
    "alpha\x00beta",
    "🙂" * 256,
]
# Refused before any SQL runs, each with a message of the query layer's own.
REFUSED = ["", "a" * MB, "🙂" * 257, 42, None, b"alpha", ["alpha"]]


def test_the_query_layer_given_hostile_input(gold_lake):  # noqa: F811
    q = GoldQueries(gold_lake)
    before = q.table_versions()
    for value in HOSTILE:
        assert q.live_snapshot(value).empty
        assert q.minute_metrics(value).empty
        assert q.top_emotes(value).empty
        assert q.moments(stream_ids=[value], kinds=[value]).empty
        assert q.broadcast_summaries(value).empty
        assert q.compare_broadcasts([(value, value)]).empty
    compared = q.compare_streams([*HOSTILE, "alpha"])
    # Values are bound, never pasted: each comes back verbatim, unknown ones without data.
    assert compared["stream_id"].tolist() == [*HOSTILE, "alpha"]
    assert compared["messages"].tolist() == [0] * len(HOSTILE) + [compared["messages"].iloc[-1]]
    assert compared["messages"].iloc[-1] > 0
    assert len(q.compare_streams([f"unknown{i}" for i in range(500)])) == 500
    calls = [
        lambda v: q.live_snapshot(v), lambda v: q.minute_metrics(v), lambda v: q.top_emotes(v),
        lambda v: q.moments(stream_ids=[v]), lambda v: q.moments(kinds=[v]),
        lambda v: q.compare_streams([v]), lambda v: q.compare_broadcasts([(v, "b")]),
    ]  # fmt: skip
    for value in REFUSED:
        for call in calls:
            with pytest.raises(QueryInputError, match="must be") as refused:
                call(value)
            assert "SELECT" not in str(refused.value) and len(str(refused.value)) < 200
    with pytest.raises(QueryInputError, match="must be a list"):
        q.compare_streams("alpha")  # a string is not a list of ids
    with pytest.raises(QueryInputError, match="at most 1000"):
        q.compare_streams(["a"] * 1001)
    with pytest.raises(QueryInputError, match="limit"):
        q.top_emotes("alpha", limit="5; DROP TABLE streams")
    assert len(q.list_streams()) == 3
    assert q.table_versions() == before == dict.fromkeys(GOLD_SCHEMAS, 0)


def test_a_failing_query_names_no_sql(gold_lake):  # noqa: F811
    with pytest.raises(QueryError, match="query failed") as failed:
        GoldQueries(gold_lake)._query("SELECT nope FROM streams WHERE 1 = 1", {}, ["streams"])
    assert "WHERE" not in str(failed.value) and "SELECT" not in str(failed.value)


# ---- 8. one lake, fed one way ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("ran", "start", "named"),
    [("bronze", "all", "`run bronze`"), ("medallion", "silver", "`run all`")],
)
def test_the_runner_refuses_to_feed_a_lake_both_ways(spark, settings, ran, start, named):
    """A lake fed by the one medallion query must not get the layer queries too (or the
    reverse): each would read Kafka or bronze from its own start and write records twice."""
    checkpoint = Path(settings.checkpoint_path(ran))
    (checkpoint / "offsets").mkdir(parents=True)
    with pytest.raises(RuntimeError, match=f"fed by {named}"):
        runner.run_stream(spark, settings, start, AVAILABLE_NOW)
    assert not Path(
        settings.checkpoint_path(runner.MEDALLION if start == "all" else start)
    ).exists()
