"""Producer and replay against the real broker (fixture ``kafka_settings``: fresh topics)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone

import pytest
from kafka_helpers import TYPES, read_all

from pipelines.config import PROJECT_ROOT
from pipelines.sim.producer import produce
from pipelines.sources.replay import replay

pytestmark = pytest.mark.integration


def test_fast_run_with_bad_input_lands_completely(kafka_settings, tmp_path):
    truth = tmp_path / "truth.jsonl"
    stats = produce(kafka_settings, ["left", "right"], 20.0, count=3000, fast=True, seed=4,
                    bad_ratio=0.1, truth_file=truth, progress=False)  # fmt: skip
    assert stats.sent == 3000 and sum(stats.by_kind.values()) == 3000
    records = read_all(kafka_settings, 3000)
    assert len(records) == 3000
    assert Counter(t for t, _, _ in records) == stats.by_topic
    assert {k for _, k, _ in records} == {b"left", b"right"}
    unparseable = 0
    for topic_type, key, value in records:
        try:
            event = json.loads(value)
        except ValueError:
            unparseable += 1
            continue
        assert event.get("stream_id", key.decode()) == key.decode()
        if event.get("event_type") in TYPES:
            assert event["event_type"] == topic_type
    assert unparseable == stats.by_kind["broken_json"] > 0
    assert sum(len(v) > 64 * 1024 for _, _, v in records) == stats.by_kind["oversized"] > 0
    values = Counter(v for _, _, v in records)
    assert sum(n - 1 for n in values.values()) == stats.by_kind["duplicate"] > 0
    assert truth.exists() and len(truth.read_text().splitlines()) == stats.moments


def test_two_processes_send_every_channel_and_the_truth(kafka_settings, tmp_path):
    truth = tmp_path / "truth.jsonl"
    channels = ["c1", "c2", "c3", "c4"]
    stats = produce(kafka_settings, channels, 2.0, duration=1800, fast=True, seed=8,
                    truth_file=truth, processes=2, progress=False)  # fmt: skip
    records = read_all(kafka_settings, stats.sent)
    assert len(records) == stats.sent > 4 * 1800 * 2 * 0.9
    assert {k.decode() for _, k, _ in records} == set(channels)
    rows = [json.loads(line) for line in truth.read_text().splitlines()]
    assert len(rows) == stats.moments and {r["stream_id"] for r in rows} == set(channels)
    metas = [json.loads(v) for t, _, v in records if t == "stream_meta"]
    assert Counter(m["status"] for m in metas)["offline"] == 4


def test_paced_run_follows_the_wall_clock(kafka_settings):
    started = datetime.now(timezone.utc)
    stats = produce(kafka_settings, ["live"], 10.0, count=25, seed=2, progress=False)
    assert stats.sent == 25 and 1.5 < stats.elapsed_s < 10
    events = [json.loads(v) for _, _, v in read_all(kafka_settings, 25)]
    stamps = [datetime.fromisoformat(e["ts"].replace("Z", "+00:00")) for e in events]
    offsets = [(s - started).total_seconds() for s in stamps]
    assert all(-0.01 <= o < 10 for o in offsets), offsets  # ts are truncated to the ms


def test_sigterm_stops_a_forever_run_cleanly(kafka_settings):
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.kafka_bootstrap_servers,
           "TELEMETRA_KAFKA_TOPIC_PREFIX": kafka_settings.kafka_topic_prefix}  # fmt: skip
    code = (
        "from pipelines.config import load_settings; from pipelines.sim.producer import produce; "
        "print(produce(load_settings(), ['forever'], 20.0, progress=False), flush=True)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    time.sleep(6)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    sent = int(out.split("sent ")[1].split(" ")[0])
    events = [json.loads(v) for _, _, v in read_all(kafka_settings, sent)]
    assert len(events) == sent > 10
    # One key, so one partition: stream_meta comes back in order, ending offline.
    assert [e["status"] for e in events if e["event_type"] == "stream_meta"][-1] == "offline"


def test_replay_skips_the_bad_line_and_keeps_bytes(kafka_settings, tmp_path):
    lines = [
        '{"event_id":"a1","event_type":"viewer","stream_id":"r","ts":"2026-01-01T00:00:00.000Z","schema_version":1,"viewer_count":5}',
        '{"event_id":"a2","event_type":"chat","stream_id":"r","ts":"2026-01-01T00:00:01.000Z","schema_version":1,"user_id":"1","username":"u","message":"gg","emotes":[],"badges":[]}',
        '{"event_id":"a3","event_type":"chat","stream_id":"r","ts":',
        '{"event_id":"a4","event_type":"viewer","stream_id":"r","ts":"2026-01-01T00:00:02.000Z","schema_version":1,"viewer_count":6}',
    ]  # fmt: skip
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(lines) + "\n")
    stats = replay(kafka_settings, path, speed=4.0)
    assert stats.sent == 3 and [n for n, _ in stats.skipped] == [3]
    assert 0.4 < stats.elapsed_s < 5  # 2 s of event time at 4x
    got = read_all(kafka_settings, 3)
    assert sorted(v for _, _, v in got) == sorted(lines[i].encode() for i in (0, 1, 3))
    assert {(t, k) for t, k, _ in got} == {("viewer", b"r"), ("chat", b"r")}


def test_replay_shift_to_now_moves_the_last_event_to_now(kafka_settings, tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text(
        '{"event_id":"b1","event_type":"viewer","stream_id":"r","ts":"2020-01-01T00:00:00.000Z","viewer_count":1}\n'
        '{"event_id":"b2","event_type":"viewer","stream_id":"r","ts":"2020-01-01T00:00:05.250Z","viewer_count":2}\n'
    )  # fmt: skip
    stats = replay(kafka_settings, path, max_speed=True, shift_to_now=True)
    now = datetime.now(timezone.utc)
    events = sorted(
        (json.loads(v) for _, _, v in read_all(kafka_settings, 2)), key=lambda e: e["event_id"]
    )
    stamps = [datetime.fromisoformat(e["ts"].replace("Z", "+00:00")) for e in events]
    assert abs((now - stamps[1]).total_seconds()) < 10
    assert (stamps[1] - stamps[0]).total_seconds() == 5.25
    assert stats.sent == 2 and not stats.skipped


def _viewer_line(event_id: str, second: int, pad: int = 0) -> str:
    line = {"event_id": event_id, "event_type": "viewer", "stream_id": "r",
            "ts": f"2026-01-01T00:00:{second:02d}.000Z", "viewer_count": 1}  # fmt: skip
    if pad:
        line["padding"] = "x" * pad
    return json.dumps(line)


def test_replay_skips_records_too_large_for_kafka_and_goes_on(kafka_settings, tmp_path):
    """A 2.3 MB line is over the producer's request size; a 1.5 MB one is under it but over
    the viewer topic's max.message.bytes, set to 1 MiB here (many brokers' default). Both
    are reported by line number; the lines after them are still sent."""
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=kafka_settings.kafka_bootstrap_servers)
    topic = ConfigResource(ConfigResourceType.TOPIC, kafka_settings.topic("viewer"),
                           configs={"max.message.bytes": str(1024 * 1024)})  # fmt: skip
    admin.alter_configs([topic])
    admin.close()
    lines = [_viewer_line("c1", 0), _viewer_line("c2", 1, pad=2_300_000),
             _viewer_line("c3", 2), _viewer_line("c4", 3, pad=1_500_000),
             _viewer_line("c5", 4)]  # fmt: skip
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(lines) + "\n")
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.kafka_bootstrap_servers,
           "TELEMETRA_KAFKA_TOPIC_PREFIX": kafka_settings.kafka_topic_prefix}  # fmt: skip
    telemetra = os.path.join(os.path.dirname(sys.executable), "telemetra")
    done = subprocess.run([telemetra, "replay", str(path), "--max-speed"], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    out = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 0, out
    assert "Traceback" not in out
    assert "replayed 3 events" in out and "skipped 2 lines" in out, out
    assert "line 2: too large for Kafka" in out and "line 4: too large for Kafka" in out
    got = read_all(kafka_settings, 3)
    assert sorted(json.loads(v)["event_id"] for _, _, v in got) == ["c1", "c3", "c5"]
    strict = subprocess.run([telemetra, "replay", str(path), "--max-speed", "--strict"],
                            env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert strict.returncode == 1 and "2 lines" in strict.stderr and "--strict" in strict.stderr
    only_bad = tmp_path / "bad.jsonl"
    only_bad.write_text(lines[1] + "\nnot json\n")
    nothing = subprocess.run([telemetra, "replay", str(only_bad), "--max-speed"], env=env,
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert nothing.returncode == 1 and "nothing sent" in nothing.stderr
