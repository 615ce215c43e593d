"""Bad input and duplicates mixed in by ``bad_ratio``: each kind is really bad, in proportion."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from itertools import islice

import pytest

from pipelines.core.contract import REQUIRED_FIELDS
from pipelines.sim.event_faults import BAD_KINDS
from pipelines.sim.events import generate

START = datetime(2026, 5, 2, 9, 30, tzinfo=timezone.utc)
EVENT_TYPES = {"chat", "viewer", "transaction", "stream_meta"}


def records(bad_ratio: float, minutes: int = 10, seed: int = 5):
    end = START + timedelta(minutes=minutes)
    gen = generate(["north", "south"], 20.0, START, end, seed, bad_ratio)
    return gen, list(gen)


@pytest.fixture(scope="module")
def mixed():
    return records(0.1)[1]


def test_no_bad_input_and_no_duplicates_by_default():
    _, recs = records(0.0, minutes=5)
    assert {r.kind for r in recs} == {"good"}


def test_bad_share_and_kind_counts_follow_bad_ratio(mixed):
    kinds = Counter(r.kind for r in mixed)
    total = len(mixed)
    bad = sum(kinds[k] for k in BAD_KINDS)
    assert 0.085 < bad / total < 0.115
    for kind in BAD_KINDS:  # seven kinds, drawn evenly
        assert 0.6 < kinds[kind] / (bad / 7) < 1.4, (kind, kinds[kind])
    assert 0.01 < kinds["duplicate"] / total < 0.03  # "occasionally"


def test_duplicates_repeat_earlier_good_records_byte_for_byte(mixed):
    seen_good: set[tuple[str, bytes]] = set()
    for rec in mixed:
        if rec.kind == "good":
            seen_good.add((rec.topic_type, rec.value))
        elif rec.kind == "duplicate":
            assert (rec.topic_type, rec.value) in seen_good


def parsed(rec):
    return json.loads(rec.value)


def test_broken_json_does_not_parse(mixed):
    for rec in (r for r in mixed if r.kind == "broken_json"):
        with pytest.raises(ValueError):
            json.loads(rec.value)


def test_missing_field_lacks_a_required_field(mixed):
    for rec in (r for r in mixed if r.kind == "missing_field"):
        event = parsed(rec)
        required = ("event_id", "stream_id", "ts", *REQUIRED_FIELDS[rec.topic_type])
        assert any(name not in event for name in required), event


def test_wrong_type_has_a_field_of_the_wrong_json_type(mixed):
    for rec in (r for r in mixed if r.kind == "wrong_type"):
        event = parsed(rec)
        if rec.topic_type == "viewer":
            assert isinstance(event["viewer_count"], str)
        elif rec.topic_type == "transaction":
            assert isinstance(event["amount"], str)
        else:
            assert isinstance(event["emotes"], str)


def test_negative_viewers_are_viewer_events_below_zero(mixed):
    for rec in (r for r in mixed if r.kind == "negative_viewers"):
        event = parsed(rec)
        assert rec.topic_type == event["event_type"] == "viewer"
        assert event["viewer_count"] < 0


def test_future_ts_is_days_ahead(mixed):
    for rec in (r for r in mixed if r.kind == "future_ts"):
        ts = datetime.fromisoformat(parsed(rec)["ts"].replace("Z", "+00:00"))
        assert ts - rec.event_ts >= timedelta(days=1)


def test_oversized_message_exceeds_64_kib(mixed):
    for rec in (r for r in mixed if r.kind == "oversized"):
        event = parsed(rec)
        assert rec.topic_type == "chat"
        assert len(event["message"].encode("utf-8")) > 64 * 1024


def test_unknown_type_keeps_a_known_topic(mixed):
    for rec in (r for r in mixed if r.kind == "unknown_type"):
        assert parsed(rec)["event_type"] not in EVENT_TYPES
        assert rec.topic_type in EVENT_TYPES


def test_bad_input_does_not_change_the_simulation():
    clean_gen, clean = records(0.0)
    dirty_gen, dirty = records(0.1)
    clean_values = {r.value for r in clean}
    good = [r.value for r in dirty if r.kind == "good"]
    assert set(good) <= clean_values
    assert len(good) > 0.85 * len(clean)
    assert clean_gen.truth_rows() == dirty_gen.truth_rows()


def test_unbounded_span_keeps_going_and_labels_moments():
    gen = generate(["solo"], 2.0, START, None, seed=9, bad_ratio=0.0)
    head = list(islice(gen, 20_000))  # about 2.7 hours of event time at 2 events/s
    span = head[-1].event_ts - head[0].event_ts
    assert span > timedelta(hours=2)
    assert abs(len(head) / span.total_seconds() - 2.0) < 0.2
    truth = gen.truth_rows(until=head[-1].event_ts)
    assert len(truth) >= 8
    assert all(parsed(r)["status"] == "live" for r in head if r.topic_type == "stream_meta")
    offline = gen.offline_records(head[-1].event_ts)
    assert [parsed(r)["status"] for r in offline] == ["offline"]
