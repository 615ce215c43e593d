"""Moment scoring: overlap within tolerance, one match per label, per-kind figures."""

from datetime import datetime

from pipelines.sim.moment_scoring import Interval, score, score_by_kind


def _i(stream, kind, start_min, end_min):
    base = datetime(2026, 11, 26, 12, 0)
    return Interval(stream, kind, base.replace(minute=start_min), base.replace(minute=end_min))


def test_overlap_within_tolerance_counts_once():
    labels = [_i("a", "chat_spike", 10, 12)]
    detected = [_i("a", "chat_spike", 12, 13), _i("a", "chat_spike", 11, 12)]
    s = score(detected, labels, tolerance_s=30)
    assert (s.detected, s.labelled, s.true_positives) == (2, 1, 1)
    assert s.precision == 0.5 and s.recall == 1.0


def test_other_stream_kind_or_far_away_does_not_match():
    labels = [_i("a", "raid", 10, 11)]
    detected = [_i("b", "raid", 10, 11), _i("a", "chat_spike", 10, 11), _i("a", "raid", 13, 14)]
    assert score(detected, labels).true_positives == 0


def test_by_kind_splits_figures():
    labels = [_i("a", "raid", 10, 11), _i("a", "chat_spike", 20, 21)]
    detected = [_i("a", "raid", 10, 11)]
    by_kind = score_by_kind(detected, labels)
    assert by_kind["raid"].recall == 1.0
    assert by_kind["chat_spike"].recall == 0.0
    assert by_kind["chat_spike"].precision == 1.0  # nothing detected, nothing wrong
