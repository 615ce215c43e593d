"""Publish a file of events to the event topics: ``telemetra replay``. What a file holds
and how it is read (our JSONL, or another tool's chat log) is ``pipelines.sources.reading``;
this sends it.

Each event goes to the topic of its event_type with key stream_id, if it is small enough
for that topic (the topic's ``max.message.bytes``, asked of the cluster before sending);
a bad or too-large line is logged with its line number, counted in
``ReplayStats.skipped`` and not sent, and the lines after it go on: nothing is dropped
silently. Pacing follows the gaps between ``ts`` divided by ``speed``, or none with
``max_speed`` (then a line format is parsed by several processes). ``shift_to_now``
moves every ``ts`` (and ``started_at`` of stream_meta) so the latest event is now.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.config import Settings
from pipelines.sim.kafka_sink import RECORD_OVERHEAD_BYTES, Sink, record_size_limits
from pipelines.sources import chat_logs
from pipelines.sources.reading import BadLine, default_workers, read_events

log = logging.getLogger(__name__)

MAX_WARNINGS = 20  # then one summary line; every skip is still in the stats
PACE_SLACK_S = 0.005


@dataclass
class ReplayStats:
    sent: int = 0
    by_topic: Counter = field(default_factory=Counter)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    unit: str = "line"  # what the numbers count: "comment" in a TwitchDownloader file
    elapsed_s: float = 0.0
    shift_s: float = 0.0

    def __str__(self) -> str:
        topics = ", ".join(f"{k}={v}" for k, v in sorted(self.by_topic.items()))
        text = f"replayed {self.sent} events in {self.elapsed_s:.1f}s ({topics or 'none'})"
        if self.shift_s:
            text += f"; timestamps shifted by {self.shift_s:+.3f}s"
        if self.skipped:
            shown = "; ".join(f"{self.unit} {n}: {why}" for n, why in self.skipped[:5])
            more = f"; and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
            text += f"; skipped {len(self.skipped)} {self.unit}s ({shown}{more})"
        return text

    def skip(self, line_no: int, reason: str) -> None:
        self.skipped.append((line_no, reason))
        if len(self.skipped) <= MAX_WARNINGS:
            log.warning("%s %d skipped: %s", self.unit, line_no, reason)

    def __rich__(self) -> str:
        return str(self)


def replay(
    settings: Settings,
    path: str | Path,
    speed: float = 1.0,
    max_speed: bool = False,
    shift_to_now: bool = False,
    fmt: str = "auto",
    stream_id: str | None = None,
) -> ReplayStats:
    """Publish the events of a file (``fmt``: ``auto`` or one of ``chat_logs.FORMATS``);
    see the module docstring."""
    if speed <= 0:
        raise ValueError(f"speed must be > 0, got {speed}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    fmt = chat_logs.detect_format(path) if fmt == "auto" else fmt
    workers = default_workers() if max_speed else 1  # paced, parsing is never the limit
    stats = ReplayStats(unit=chat_logs.POSITION_UNITS.get(fmt, "line"))
    offset_ms = 0
    if shift_to_now:
        lines = read_events(path, fmt, stream_id, workers=workers)
        latest = max((ln.ts_ms for ln in lines if not isinstance(ln, BadLine)), default=None)
        if latest is not None:
            offset_ms = int(time.time() * 1000) - latest
            stats.shift_s = offset_ms / 1000
    started = time.monotonic()
    with Sink(settings) as sink:
        limits = record_size_limits(settings)
        lines = read_events(path, fmt, stream_id, offset_ms, workers)
        _publish(sink, lines, stats, speed, max_speed, limits)
        sink.flush()
    stats.elapsed_s = time.monotonic() - started
    if len(stats.skipped) > MAX_WARNINGS:
        log.warning("%d bad lines skipped in %s in all", len(stats.skipped), path)
    return stats


def _publish(sink: Sink, lines, stats: ReplayStats, speed, max_speed, limits) -> None:
    first_ts = first_wall = None
    key_bytes: dict[str, int] = {}
    for line in lines:
        if isinstance(line, BadLine):
            stats.skip(line.line_no, str(line))
            continue
        if not max_speed:
            if first_ts is None:
                first_ts, first_wall = line.ts_ms, time.monotonic()
            delay = first_wall + (line.ts_ms - first_ts) / 1000 / speed - time.monotonic()
            if delay > PACE_SLACK_S:
                time.sleep(delay)
        key_size = key_bytes.get(line.stream_id)
        if key_size is None:
            key_size = key_bytes[line.stream_id] = len(line.stream_id.encode())
        size = len(line.raw) + key_size + RECORD_OVERHEAD_BYTES
        if size > limits[line.event_type]:
            stats.skip(line.line_no, f"too large for Kafka: a record of {size:,} bytes, over "
                       f"the {line.event_type} topic's {limits[line.event_type]:,}")  # fmt: skip
            continue
        sink.send(line.event_type, line.stream_id, line.raw)
        stats.sent += 1
        stats.by_topic[line.event_type] += 1
