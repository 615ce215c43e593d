"""Moment evaluation: matching within a tolerance, one match per label, precision@k, the
label files people write, and `telemetra eval moments` over a real Delta lake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from pipelines.core import catalog
from pipelines.serving.moment_eval import (
    Interval,
    LabelError,
    evaluate,
    load_labels,
    parse_time,
    score,
)

TELEMETRA = Path(sys.executable).with_name("telemetra")
T0 = datetime(2026, 11, 26, 12, 0)


def _i(stream, kind, start_min, end_min, score=0.0):
    return Interval(stream, kind, T0 + timedelta(minutes=start_min),
                    T0 + timedelta(minutes=end_min), score)  # fmt: skip


def test_overlap_within_tolerance_counts_once():
    labels = [_i("a", "chat_spike", 10, 12)]
    detected = [_i("a", "chat_spike", 12, 13), _i("a", "chat_spike", 11, 12)]
    s = score(detected, labels, tolerance_s=30)
    assert (s.detected, s.labelled, s.matched_moments, s.matched_labels) == (2, 1, 1, 1)
    assert (s.precision, s.recall) == (0.5, 1.0)
    assert s.f1 == pytest.approx(2 * 0.5 * 1.0 / 1.5)


def test_other_stream_kind_or_far_away_does_not_match():
    labels = [_i("a", "raid", 10, 11)]
    detected = [_i("b", "raid", 10, 11), _i("a", "chat_spike", 10, 11), _i("a", "raid", 13, 14)]
    assert score(detected, labels).matched_labels == 0


def test_tolerance_reaches_a_moment_just_outside_the_label():
    labels = [_i("a", None, 10, 11)]
    late = [Interval("a", "chat_spike", T0 + timedelta(minutes=11, seconds=20),
                     T0 + timedelta(minutes=12))]  # fmt: skip
    assert score(late, labels, tolerance_s=30).matched_labels == 1
    assert score(late, labels, tolerance_s=10).matched_labels == 0


def test_a_label_without_kind_matches_any_kind():
    labels = [_i("a", None, 10, 11), _i("a", None, 20, 21)]
    detected = [_i("a", "raid", 10, 11), _i("a", "sentiment_swing", 20, 21)]
    assert score(detected, labels).matched_labels == 2


def test_higher_scores_choose_first_and_take_the_label_they_overlap_most():
    """Two moments near two labels: the higher-scored one takes the label it overlaps
    most, so both labels are matched (a first-come match would strand one)."""
    labels = [_i("a", None, 10, 12), _i("a", None, 12, 14)]
    detected = [_i("a", "chat_spike", 11, 13, score=1.0), _i("a", "chat_spike", 12, 14, score=9.0)]
    s = score(detected, labels, tolerance_s=0)
    assert (s.matched_moments, s.matched_labels) == (2, 2)


def test_precision_at_k_looks_at_each_streams_best_moments():
    labels = [_i("a", None, 10, 11), _i("b", None, 10, 11)]
    detected = [
        _i("a", "chat_spike", 10, 11, score=9.0),  # a's best: right
        _i("a", "chat_spike", 30, 31, score=5.0),  # a's second: wrong
        _i("a", "chat_spike", 40, 41, score=1.0),  # a's third: wrong, beyond k=2
        _i("b", "chat_spike", 50, 51, score=3.0),  # b's only: wrong
    ]
    result = evaluate(detected, labels, tolerance_s=30, k=2)
    assert result.precision_at_k == pytest.approx((1 / 2 + 0 / 1) / 2)
    assert result.overall.precision == pytest.approx(1 / 4)
    assert result.overall.recall == pytest.approx(1 / 2)
    assert result.by_stream["b"].recall == 0.0
    assert evaluate([], labels).precision_at_k is None


def test_times_and_vod_offsets():
    assert parse_time("1:02:03", "x") == timedelta(hours=1, minutes=2, seconds=3)
    assert parse_time("02:03", "x") == timedelta(minutes=2, seconds=3)
    assert parse_time("75.5", "x") == timedelta(seconds=75.5)
    assert parse_time(90, "x") == timedelta(seconds=90)
    assert parse_time("2026-11-26T12:00:05Z", "x") == datetime(2026, 11, 26, 12, 0, 5)
    assert parse_time("2026-11-26T13:00:05+01:00", "x") == datetime(2026, 11, 26, 12, 0, 5)
    with pytest.raises(LabelError, match="x: 'soon' is neither"):
        parse_time("soon", "x")


def test_label_files_in_every_shape(tmp_path):
    start = datetime(2026, 11, 26, 17, 0, tzinfo=timezone.utc)
    origin = {("vod", None): start}
    expected = [Interval("vod", None, start.replace(tzinfo=None) + timedelta(seconds=62),
                         start.replace(tzinfo=None) + timedelta(seconds=95))]  # fmt: skip
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text("start,end,note\n0:01:02,0:01:35,the boss falls\n", encoding="utf-8")
    json_file = tmp_path / "labels.json"
    json_file.write_text(json.dumps({"labels": [{"start": 62, "end": 95}]}))
    jsonl_file = tmp_path / "labels.jsonl"
    jsonl_file.write_text('{"start": "1:02", "end": "1:35"}\n')
    for f in (csv_file, json_file, jsonl_file):
        got = load_labels(f, "vod", lambda s, b: origin.get((s, b)))
        assert got == expected, f.name


def test_the_producers_truth_file_is_a_label_file(tmp_path):
    truth = tmp_path / "truth.jsonl"
    truth.write_text(
        '{"stream_id": "s1", "kind": "raid", "start": "2026-11-26T12:10:00.000Z",'
        ' "end": "2026-11-26T12:11:30.000Z"}\n'
        '{"stream_id": "s2", "kind": "chat_spike", "start": "2026-11-26T12:20:00.000Z",'
        ' "end": "2026-11-26T12:21:00.000Z"}\n'
    )
    assert load_labels(truth) == [_i("s1", "raid", 10, 11.5), _i("s2", "chat_spike", 20, 21)]
    assert [x.stream_id for x in load_labels(truth, "s2")] == ["s2"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("start,end\n0:10,0:20\nlater,0:30\n", r"labels.csv:3: 'later' is neither"),
        ("start,end\n0:30,0:10\n", r"labels.csv:2: end .* is before start"),
        ("begin,finish\n1,2\n", "needs a header with start and end"),
        ("", "no labels"),
    ],
)
def test_bad_label_files_say_where(tmp_path, content, message):
    f = tmp_path / "labels.csv"
    f.write_text(content)
    with pytest.raises(LabelError, match=message):
        load_labels(f, "vod", lambda s, b: datetime(2026, 1, 1))


def test_offsets_need_a_known_broadcast_and_labels_need_a_stream(tmp_path):
    f = tmp_path / "labels.csv"
    f.write_text("start,end\n0:10,0:20\n")
    with pytest.raises(LabelError, match="names no stream"):
        load_labels(f)
    with pytest.raises(LabelError, match="offset, but the broadcast of vod"):
        load_labels(f, "vod", lambda s, b: None)


# ---- the command, over a real Delta lake ------------------------------------------------------
def _write(lake: Path, name: str, rows: list[dict]) -> None:
    table = catalog.table("gold", name)
    columns = {f.name: [r.get(f.name) for r in rows] for f in table.schema}
    write_deltalake(table.path(str(lake)), pa.table(columns, schema=table.schema))


def _moment(n: int, start_s: int, seconds: int, score: float) -> dict:
    start = datetime(2026, 11, 26, 17, 0, tzinfo=timezone.utc) + timedelta(seconds=start_s)
    return {"moment_id": f"m{n}", "stream_id": "vod", "kind": "chat_spike", "start_ts": start,
            "end_ts": start + timedelta(seconds=seconds), "peak_ts": start, "peak_value": 1.0,
            "score": score, "top_emotes": [], "sample_messages": []}  # fmt: skip


def test_eval_moments_command_on_a_lake(tmp_path):
    lake = tmp_path / "lake"
    started = datetime(2026, 11, 26, 17, 0, tzinfo=timezone.utc)
    _write(lake, "moments", [_moment(1, 600, 60, 9.0), _moment(2, 1800, 60, 4.0),
                             _moment(3, 3000, 30, 2.0)])  # fmt: skip
    _write(lake, "stream_summary", [{"stream_id": "vod", "broadcast_id": "b1",
                                     "started_at": started, "ended_at": None}])  # fmt: skip
    _write(lake, "streams", [{"stream_id": "vod", "status": "offline", "started_at": started}])
    labels = tmp_path / "labels.csv"
    # 10:20-10:50 overlaps m1; 30:40-31:10 is 40 s after m2 ends (beyond 30 s); 50:00 is m3.
    labels.write_text("start,end\n10:20,10:50\n31:40,32:10\n0:50:00,0:50:20\n1:10:00,1:11:00\n")
    env = {**os.environ, "TELEMETRA_LAKE_ROOT": str(lake), "LOG_LEVEL": "WARNING"}
    run = [str(TELEMETRA), "eval", "moments", "--labels", str(labels), "--stream", "vod"]
    done = subprocess.run([*run, "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert (figures["moments"], figures["labels"]) == (3, 4)
    assert (figures["matched_moments"], figures["matched_labels"]) == (2, 2)
    assert figures["precision"] == pytest.approx(2 / 3)
    assert figures["recall"] == pytest.approx(2 / 4)
    assert figures["precision_at_10"] == pytest.approx(2 / 3)
    table = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120)
    assert table.returncode == 0 and "precision@10" in table.stdout, table.stderr
    labels.write_text("start,end\n10:20,ten\n")
    bad = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        f"telemetra: {labels}:2: 'ten' is neither an ISO-8601 time nor an offset like 1:02:03"
    ]
