"""Replay's line validation and timestamp shifting (pipelines/sources/reading.py), and
replay's own checks, without a broker."""

from __future__ import annotations

import json
import socket
import time

import pytest

from pipelines.sim.kafka_sink import BrokerUnavailable
from pipelines.sources.reading import BadLine, ReplayLine, parse_line, read_events, shifted
from pipelines.sources.replay import ReplayStats, replay

CHAT = (
    '{"event_id":"6f1c2a4e-8d7b-4c1e-9f00-1a2b3c4d5e6f","event_type":"chat","stream_id":"s1",'
    '"ts":"2026-01-01T00:00:00.250Z","schema_version":1,"user_id":"1","username":"u",'
    '"message":"hi Kappa","emotes":["Kappa"],"badges":[]}'
)
META = (
    '{"event_id":"00000000-0000-4000-8000-000000000001","event_type":"stream_meta",'
    '"stream_id":"s1","ts":"2026-01-01T00:00:10.000Z","schema_version":1,"status":"live",'
    '"title":"t","category":"Chess","language":"en","started_at":"2025-12-31T23:59:59.999Z"}'
)


def test_valid_line_is_routed_with_its_exact_bytes(tmp_path):
    event, ts_ms = parse_line(CHAT.encode() + b"\n", 3)
    assert (event["event_type"], event["stream_id"]) == ("chat", "s1")
    assert ts_ms == 1_767_225_600_250  # 2026-01-01T00:00:00.250Z, worked out by hand
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n" + CHAT.encode() + b"\r\n")
    [empty, line] = list(read_events(path))
    assert isinstance(empty, BadLine) and empty.line_no == 1
    assert (line.line_no, line.event_type, line.stream_id) == (2, "chat", "s1")
    assert line.raw == CHAT.encode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"event_type": "chat", "stream_id": "s1", "ts": ', "not valid JSON"),
        (b"[1, 2, 3]", "not a JSON object"),
        (
            b'{"event_type": "poll", "stream_id": "s1", "ts": "2026-01-01T00:00:00Z"}',
            "unknown event_type",
        ),
        (b'{"stream_id": "s1", "ts": "2026-01-01T00:00:00Z"}', "unknown event_type None"),
        (b'{"event_type": "viewer", "stream_id": "", "ts": "2026-01-01T00:00:00Z"}', "stream_id"),
        (b'{"event_type": "viewer", "stream_id": 7, "ts": "2026-01-01T00:00:00Z"}', "stream_id"),
        (b'{"event_type": "viewer", "stream_id": "s1", "ts": "yesterday"}', "unparseable ts"),
        (b'{"event_type": "viewer", "stream_id": "s1"}', "unparseable ts"),
        (b"   \n", "empty line"),
        (b"\xff\xfe{}", "not valid JSON"),
    ],
)
def test_unroutable_lines_say_why(raw, reason):
    with pytest.raises(BadLine, match=reason):
        parse_line(raw, 1)


def test_read_events_reports_bad_lines_by_number(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(CHAT + "\n" + "not json\n" + META + "\n")
    got = list(read_events(path))
    assert [type(x) for x in got] == [ReplayLine, BadLine, ReplayLine]
    assert got[1].line_no == 2 and [got[0].line_no, got[2].line_no] == [1, 3]


def test_shift_moves_ts_and_started_at_keeping_the_format():
    event, ts_ms = parse_line(META.encode(), 1)
    event = shifted(event, ts_ms, 1_500)
    assert event["ts"] == "2026-01-01T00:00:11.500Z"
    assert event["started_at"] == "2026-01-01T00:00:01.499Z"
    assert {k: v for k, v in event.items() if k not in ("ts", "started_at")} == {
        k: v for k, v in json.loads(META).items() if k not in ("ts", "started_at")
    }


def test_replay_without_a_broker_fails_fast_with_one_line(tmp_path, settings):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path / "events.jsonl"
    path.write_text(CHAT + "\n")
    nowhere = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{port}"})
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable) as err:
        replay(nowhere, path, max_speed=True)
    assert time.monotonic() - started < 30
    assert "\n" not in str(err.value) and f"127.0.0.1:{port}" in str(err.value)


def test_replay_rejects_a_bad_speed(tmp_path, settings):
    path = tmp_path / "events.jsonl"
    path.write_text(CHAT + "\n")
    with pytest.raises(ValueError, match="speed"):
        replay(settings, path, speed=0)


def test_skips_are_named_by_what_the_format_numbers():
    # A TwitchDownloader file is one JSON document: its numbers count comments, not lines.
    stats = ReplayStats(unit="comment")
    stats.skip(4, "ValueError: no commenter")
    assert "skipped 1 comments (comment 4: ValueError: no commenter)" in str(stats)
    assert "line" not in str(stats)
    plain = ReplayStats()
    plain.skip(2, "empty line")
    assert "skipped 1 lines (line 2: empty line)" in str(plain)
