"""A crash at every write boundary of a micro-batch (issue 21).

The pipeline (``telemetra run all``) runs as a process of its own with the test-only
``test_kill_after_commit`` setting, which SIGKILLs it and its JVM right after the k-th
Delta commit of one micro-batch (``pipelines.crash_points``). One lake and one set of
topics serve every k, in a chain: chunk k of records goes in, and a new pipeline process
first finishes the batch the previous one died in (Spark replays it from the checkpoint),
then takes chunk k as a new batch and is killed after that batch's k-th commit. After each
kill the books are read (``pipelines.accounting``): nothing doubled or in two places, and
every batch but the one just cut short wholly placed in silver. At the end a last restart
finishes the final batch; then Kafka, bronze and silver must balance exactly and a batch
rebuild from the same bronze must give the same silver and gold.

Each chunk holds what a replay could route differently if it saw its own first attempt:
every event type, the producer's bad kinds, a duplicate of the previous chunk's event, a
late event, a 1970 timestamp opening a stream, and a new stream whose first event lies
five minutes before its second (late only against the batch's own later event).
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from fault_helpers import delta_rows, send_raw, start_pipeline, with_extra
from kafka_helpers import with_fresh_topics
from lake_checks import TYPED, assert_batch_rebuild_equals, read_table
from pyspark.sql import functions as F
from silver_fixture import event

from pipelines import crash_points
from pipelines.accounting import lake_books, unbalanced
from pipelines.event_codec import encode_event
from pipelines.jobs import runner
from pipelines.producer import ProduceStats, produce
from pipelines.spark import hadoop_path

AVAILABLE_NOW = {"availableNow": True}


def _chunk(settings, k: int) -> ProduceStats:
    """Send chunk ``k``; returns what was sent, with the good records counted."""
    stats = produce(settings, channels=["alpha", "beta"], rate=5.0, duration=20, fast=True,
                    seed=100 + k, bad_ratio=0.1, progress=False)  # fmt: skip
    now = datetime.now(timezone.utc)
    records = [
        # a new stream: its first event five minutes before its second, in one batch
        ("chat", f"fresh{k}", event("chat", f"fresh-a-{k}", now - timedelta(minutes=5),
                                    stream=f"fresh{k}")),
        ("chat", f"fresh{k}", event("chat", f"fresh-b-{k}", now, stream=f"fresh{k}")),
        # chunk k's echo, sent again with chunk k + 1: a duplicate across batches
        ("chat", "alpha", event("chat", f"echo-{k}", now, stream="alpha")),
        ("viewer", "alpha", event("viewer", f"late-{k}", now - timedelta(minutes=10),
                                  stream="alpha")),
        ("chat", f"epoch{k}", {**event("chat", f"epoch-{k}", now, stream=f"epoch{k}"),
                               "ts": "1970-01-01T00:00:00.000Z"}),
    ]  # fmt: skip
    good = 3
    if k > 0:
        echo = event("chat", f"echo-{k - 1}", now, stream="alpha")
        records.append(("chat", "alpha", echo))
    send_raw(settings, [(t, key, encode_event(value)) for t, key, value in records])
    return with_extra(stats, Counter(t for t, _, _ in records), good=good)


def _newest_planned_batch(spark, settings) -> int:
    """The newest batch id in the medallion query's offset log (planned, maybe not done)."""
    fs, offsets = hadoop_path(spark, settings.checkpoint_path(runner.MEDALLION) + "/offsets")
    names = [status.getPath().getName() for status in fs.listStatus(offsets)]
    return max(int(n) for n in names if n.isdigit())


@pytest.fixture(scope="module")
def crashed_at_every_boundary(spark, kafka_broker, tmp_path_factory):
    """Runs the whole scenario; returns (settings, what was sent, commits per batch, the
    books after each kill as (k, the commit it followed, the guarantees broken))."""
    root = tmp_path_factory.mktemp("boundaries")
    settings = with_fresh_topics(kafka_broker, root, "crash")
    sent = _chunk(settings, 0)
    runner.run_stream(spark, settings, "all", AVAILABLE_NOW)  # a clean batch: count commits
    commits = crash_points.commits_per_batch[_newest_planned_batch(spark, settings)]
    books = []
    for k in range(1, commits + 1):
        sent.add(_chunk(settings, k))
        # after the newest planned batch; a replay of that one, if it died, comes first
        batch = _newest_planned_batch(spark, settings) + 1
        log_path = root / f"kill-{k}.log"
        proc = start_pipeline(settings, log_path, "all", "--trigger", "availableNow",
                              TELEMETRA_TEST_KILL_AFTER_COMMIT=f"{batch}:{k}")  # fmt: skip
        code = proc.wait(timeout=600)
        log = log_path.read_text()
        assert code == -signal.SIGKILL, f"k={k}: exit {code}, not killed\n{log[-3000:]}"
        last = [line for line in log.splitlines() if "test_kill_after_commit" in line]
        where = last[-1].split("SIGKILL ")[-1] if last else "?"
        books.append((k, where, unbalanced(lake_books(settings, in_flight=True))))
    runner.run_stream(spark, settings, "all", AVAILABLE_NOW)  # the last restart
    return settings, sent, commits, books


@pytest.mark.integration
@pytest.mark.timeout(2400)
def test_a_crash_after_any_commit_loses_and_doubles_nothing(crashed_at_every_boundary):
    _, _, commits, books = crashed_at_every_boundary
    assert commits >= 3, f"a batch made only {commits} commits"
    assert [k for k, _, _ in books] == list(range(1, commits + 1))
    broken = {k: (where, figures) for k, where, figures in books if figures}
    assert not broken, json.dumps(broken, indent=1)


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_after_the_last_restart_kafka_bronze_and_silver_balance(crashed_at_every_boundary):
    settings, sent, _, _ = crashed_at_every_boundary
    books = lake_books(settings)
    assert unbalanced(books) == {}
    assert books["bronze_rows"] == books["silver_rows"] == sent.sent
    typed = sum(delta_rows(settings.table_path("silver", t)) for t in TYPED)
    assert typed == sent.by_kind["good"]


@pytest.mark.integration
@pytest.mark.timeout(1200)
def test_after_the_crashes_stream_equals_batch(spark, crashed_at_every_boundary, tmp_path):
    settings, _, commits, _ = crashed_at_every_boundary
    reasons = Counter(
        {r["reason"]: r["count"]
         for r in read_table(spark, settings, "silver", "quarantine").groupBy("reason").count()
         .collect()}
    )  # fmt: skip
    chunks = commits + 1
    # each chunk: its 1970 event, its late viewer count; every chunk but the first: an echo
    assert reasons["bad_timestamp"] >= chunks
    assert reasons["late"] >= chunks
    assert reasons["duplicate"] >= chunks - 1
    fresh = read_table(spark, settings, "silver", "chat_messages").filter(
        F.col("stream_id").startswith("fresh")
    )
    assert fresh.count() == 2 * chunks  # both events of every fresh stream accepted
    assert_batch_rebuild_equals(spark, settings, tmp_path)
