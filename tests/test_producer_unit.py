"""The producer's planning and failure paths that need no broker."""

from __future__ import annotations

import json
import socket
import time
from datetime import datetime, timedelta, timezone

import pytest

from pipelines.sim.kafka_sink import ProducerError
from pipelines.sim.producer import ProduceStats, _plan, _split, produce


def test_fast_count_span_ends_on_the_last_whole_minute_and_covers_the_count_with_margin():
    before = datetime.now(timezone.utc)
    plan = _plan(["a", "b"], 10.0, 1000, None, True, 1, 0.0)
    # 1000 records / (10 events/s x 2 channels) = 50 s, plus the 6% margin = 53 s.
    assert (plan.end - plan.start).total_seconds() == pytest.approx(53.0)
    assert (plan.end.second, plan.end.microsecond) == (0, 0)
    assert before - timedelta(minutes=1) < plan.end <= datetime.now(timezone.utc)
    assert not plan.paced and plan.count == 1000


def test_fast_duration_span_and_paced_spans():
    fast = _plan(["a"], 5.0, None, 120.0, True, 1, 0.0)
    assert (fast.end - fast.start).total_seconds() == pytest.approx(120.0)
    paced = _plan(["a"], 5.0, None, 30.0, False, 1, 0.0)
    assert paced.paced and (paced.end - paced.start).total_seconds() == pytest.approx(30.0)
    forever = _plan(["a"], 5.0, None, None, False, 1, 0.0)
    assert forever.end is None and forever.count is None


def _first_ids(plan, n=20):
    from pipelines.sim.events import generate

    gen = generate(plan.channels, plan.rate, plan.start, plan.end, plan.seed, plan.bad_ratio)
    return [json.loads(next(gen).value)["event_id"] for _ in range(n)]


def test_paced_runs_never_reuse_event_ids_but_fast_runs_repeat():
    # A second demo over the same lake must not look like a replay of the first.
    first = _plan(["a"], 5.0, None, 60.0, False, 7, 0.0)
    time.sleep(0.002)
    second = _plan(["a"], 5.0, None, 60.0, False, 7, 0.0)
    assert not set(_first_ids(first)) & set(_first_ids(second))
    # --fast --seed is the reproducible form: the same seed, the same ids.
    fast = _plan(["a"], 5.0, None, 60.0, True, 7, 0.0)
    assert _first_ids(fast) == _first_ids(_plan(["a"], 5.0, None, 60.0, True, 7, 0.0))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((["a"], 5.0, None, None, True, 1, 0.0), "--fast needs"),
        (([], 5.0, 10, None, True, 1, 0.0), "no channels"),
        ((["a"], 0.0, 10, None, True, 1, 0.0), "rate"),
        ((["a"], 5.0, 0, None, True, 1, 0.0), "positive"),
    ],
)
def test_bad_plans_are_refused(args, message):
    with pytest.raises(ValueError, match=message):
        _plan(*args)


def test_split_spreads_channels_and_the_exact_count():
    plan = _plan(["a", "b", "c", "d", "e"], 10.0, 1001, None, True, 1, 0.0)
    parts = _split(plan, 2)
    assert [p.channels for p in parts] == [["a", "c", "e"], ["b", "d"]]
    assert sum(p.count for p in parts) == 1001
    assert [p.count for p in parts] == [600, 401]  # 1001 x 3/5 rounded down, the rest
    assert all(p.start == plan.start and p.end == plan.end for p in parts)


def test_stats_add_and_print():
    a = ProduceStats(sent=3, elapsed_s=2.0)
    a.by_kind.update({"good": 2, "duplicate": 1})
    b = ProduceStats(sent=1)
    b.by_kind.update({"good": 1})
    a.add(b)
    assert a.sent == 4 and a.by_kind == {"good": 3, "duplicate": 1}
    assert "sent 4 records" in str(a) and "duplicate=1" in str(a)


def test_parallel_run_without_a_broker_fails_with_one_line(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    nowhere = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{port}"})
    started = time.monotonic()
    with pytest.raises(ProducerError) as err:
        produce(nowhere, ["a", "b"], 10.0, count=100, fast=True, processes=2, progress=False)
    assert time.monotonic() - started < 60
    assert "\n" not in str(err.value) and "cannot reach Kafka" in str(err.value)
