"""A crash at every write boundary of a micro-batch (issue 21), of both queries.

The pipeline (``telemetra run all``: the hot query, then the settle query; for a kill in
the settle query, ``run gold`` after the hot query ran in the test) runs as a process of
its own with the test-only ``test_kill_after_commit`` setting, which SIGKILLs
it and its JVM right after the k-th Delta commit of one micro-batch of one query
(``pipelines.jobs.crash_points``). Then it is restarted (here,
in the test's Spark session, whose JVM is warm) and must finish the batch as if nothing
had happened. One lake and one set of topics serve every k: chunk k of records goes in,
the batch that carries it is killed after its k-th commit, the restart recovers it, and
the books must balance (``pipelines.quality.accounting``: every Kafka record once in bronze, every
bronze row in exactly one silver place, no event counted twice, the typed rows the good
records sent) before chunk k + 1 goes in. At the end a batch rebuild from the same bronze
must give the same silver and gold.

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
from fault_helpers import send_raw, start_pipeline, with_extra
from kafka_helpers import with_fresh_topics
from lake_checks import assert_batch_rebuild_equals, read_table
from pyspark.sql import functions as F
from silver_fixture import event

from pipelines.jobs import crash_points, runner
from pipelines.jobs.spark import hadoop_path
from pipelines.quality.accounting import lake_books, unbalanced
from pipelines.sim.event_codec import encode_event
from pipelines.sim.producer import ProduceStats, produce

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


def _newest_planned_batch(spark, settings, query: str) -> int:
    """The newest batch id in a query's offset log (planned, maybe not done); -1: none."""
    fs, offsets = hadoop_path(spark, settings.checkpoint_path(query) + "/offsets")
    if not fs.exists(offsets):
        return -1
    names = [status.getPath().getName() for status in fs.listStatus(offsets)]
    return max((int(n) for n in names if n.isdigit()), default=-1)


def _books(settings, sent: ProduceStats) -> dict[str, int]:
    """The guarantees the lake breaks against what was sent (empty: none)."""
    books = lake_books(settings)
    broken = unbalanced(books)
    typed = books["silver_rows"] - books["quarantine_rows"]
    for name, value in (("kafka_minus_bronze", sent.sent - books["bronze_rows"]),
                        ("kafka_minus_silver", sent.sent - books["silver_rows"]),
                        ("good_minus_typed", sent.by_kind["good"] - typed)):  # fmt: skip
        if value:
            broken[name] = value
    return broken


@pytest.fixture(scope="module")
def crashed_at_every_boundary(spark, kafka_broker, tmp_path_factory):
    """Runs the whole scenario; returns (settings, commits per batch of each query, the
    books after each restart as (query, k, the commit the kill followed, the guarantees
    broken)). The hot query's boundaries come first, then the settle query's."""
    root = tmp_path_factory.mktemp("boundaries")
    settings = with_fresh_topics(kafka_broker, root, "crash")
    sent = _chunk(settings, 0)
    runner.run_stream(spark, settings, "all", AVAILABLE_NOW)  # a clean batch: count commits
    queries = (runner.MEDALLION, runner.SETTLE)
    commits = {
        q: crash_points.commits_per_batch[(q, _newest_planned_batch(spark, settings, q))]
        for q in queries
    }
    books = [("none", 0, "no kill", _books(settings, sent))]
    chunk = 0
    for query in queries:
        for k in range(1, commits[query] + 1):
            chunk += 1
            sent.add(_chunk(settings, chunk))
            batch = _newest_planned_batch(spark, settings, query) + 1
            log_path = root / f"kill-{query}-{k}.log"
            kill = {"TELEMETRA_TEST_KILL_AFTER_COMMIT": f"{query}:{batch}:{k}"}
            layer = "all"
            if query == runner.SETTLE:
                # The chunk through the hot query here, in the warm JVM; the process to
                # kill then runs the settle query alone (a cold hot batch less per kill).
                runner.run_stream(spark, settings, runner.HOT, AVAILABLE_NOW)
                layer = "gold"
            proc = start_pipeline(settings, log_path, layer, "--trigger", "availableNow", **kill)
            code = proc.wait(timeout=600)
            log = log_path.read_text()
            assert code == -signal.SIGKILL, f"{query} k={k}: exit {code}, not killed\n{log[-3000:]}"
            last = [line for line in log.splitlines() if "test_kill_after_commit" in line]
            where = last[-1].split("SIGKILL ")[-1] if last else "?"
            runner.run_stream(spark, settings, "all", AVAILABLE_NOW)  # the restart
            books.append((query, k, where, _books(settings, sent)))
    return settings, commits, books


@pytest.mark.integration
@pytest.mark.timeout(2400)
def test_a_crash_after_any_commit_loses_and_doubles_nothing(crashed_at_every_boundary):
    _, commits, books = crashed_at_every_boundary
    # the hot path: bronze, silver/events (typed rows and quarantine), panes
    assert commits[runner.MEDALLION] == 3, commits
    # settling: 3 window tables and the chatters merge, then 5 gold tables
    assert commits[runner.SETTLE] == 9, commits
    expected = [(q, k) for q in commits for k in range(1, commits[q] + 1)]
    assert [(q, k) for q, k, _, _ in books[1:]] == expected
    broken = {f"{q}:{k}": (where, figures) for q, k, where, figures in books if figures}
    assert not broken, json.dumps(broken, indent=1)


@pytest.mark.integration
@pytest.mark.timeout(1200)
def test_after_the_crashes_stream_equals_batch(spark, crashed_at_every_boundary, tmp_path):
    settings, commits, books = crashed_at_every_boundary
    reasons = Counter(
        {r["reason"]: r["count"]
         for r in read_table(spark, settings, "silver", "quarantine").groupBy("reason").count()
         .collect()}
    )  # fmt: skip
    chunks = len(books)
    # each chunk: its 1970 event, its late viewer count; every chunk but the first: an echo
    assert reasons["bad_timestamp"] >= chunks
    assert reasons["late"] >= chunks
    assert reasons["duplicate"] >= chunks - 1
    fresh = read_table(spark, settings, "silver", "chat_messages").filter(
        F.col("stream_id").startswith("fresh")
    )
    assert fresh.count() == 2 * chunks  # both events of every fresh stream accepted
    assert_batch_rebuild_equals(spark, settings, tmp_path)
