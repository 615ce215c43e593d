"""Publish a file of events to the event topics: our own JSONL (README, "Event formats")
or a chat log another tool wrote (``pipelines.sources.chat_logs`` turns TwitchDownloader,
chat-downloader, IRC and Chatterino logs into events; ``fmt="auto"`` detects which).

Each JSONL line must be routable: a JSON object with a known ``event_type``, a non-empty
string ``stream_id`` and a parseable ``ts``, and small enough for its topic (the topic's
``max.message.bytes``, asked of the cluster before sending). Anything else is logged with
its line number, counted in ``ReplayStats.skipped`` and not sent, and the lines after it
go on; nothing is dropped silently. Deeper checks (payload fields and types) are silver's
job, as for live input.

Valid lines go to the topic of their event_type with key stream_id, as the exact bytes
of the line unless ``shift_to_now`` rewrites ``ts`` (and ``started_at`` of stream_meta)
so the latest event is now. Pacing follows the gaps between ``ts`` divided by ``speed``,
or none with ``max_speed``.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.config import EVENT_TYPES, Settings
from pipelines.sim.event_codec import encode_event, format_ts, parse_ts
from pipelines.sim.kafka_sink import RECORD_OVERHEAD_BYTES, Sink, record_size_limits
from pipelines.sources import chat_logs

log = logging.getLogger(__name__)

MAX_WARNINGS = 20  # then one summary line; every skip is still in the stats
PACE_SLACK_S = 0.005


class BadLine(ValueError):
    """A line that cannot be routed; the message says why."""

    line_no: int = 0


@dataclass(slots=True)
class ReplayLine:
    line_no: int
    event_type: str
    stream_id: str
    ts_ms: int
    event: dict
    raw: bytes


@dataclass
class ReplayStats:
    sent: int = 0
    by_topic: Counter = field(default_factory=Counter)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    elapsed_s: float = 0.0
    shift_s: float = 0.0

    def __str__(self) -> str:
        topics = ", ".join(f"{k}={v}" for k, v in sorted(self.by_topic.items()))
        text = f"replayed {self.sent} events in {self.elapsed_s:.1f}s ({topics or 'none'})"
        if self.shift_s:
            text += f"; timestamps shifted by {self.shift_s:+.3f}s"
        if self.skipped:
            shown = "; ".join(f"line {n}: {why}" for n, why in self.skipped[:5])
            more = f"; and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
            text += f"; skipped {len(self.skipped)} lines ({shown}{more})"
        return text

    def skip(self, line_no: int, reason: str) -> None:
        self.skipped.append((line_no, reason))
        if len(self.skipped) <= MAX_WARNINGS:
            log.warning("line %d skipped: %s", line_no, reason)

    def __rich__(self) -> str:
        return str(self)


def parse_line(raw: bytes, line_no: int) -> ReplayLine:
    """Validate one line enough to route it; raise BadLine with the reason otherwise."""
    text = raw.strip()
    if not text:
        raise BadLine("empty line")
    try:
        event = json.loads(text)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise BadLine(f"not valid JSON ({exc})") from None
    if not isinstance(event, dict):
        raise BadLine(f"not a JSON object (a {type(event).__name__})")
    event_type = event.get("event_type")
    if event_type not in EVENT_TYPES:
        raise BadLine(f"unknown event_type {event_type!r}")
    stream_id = event.get("stream_id")
    if not isinstance(stream_id, str) or not stream_id:
        raise BadLine(f"missing or empty stream_id ({stream_id!r})")
    try:
        ts_ms = parse_ts(event.get("ts"))
    except ValueError:
        raise BadLine(f"unparseable ts {event.get('ts')!r}") from None
    return ReplayLine(line_no, event_type, stream_id, ts_ms, event, text)


def read_lines(path: str | Path) -> Iterator[ReplayLine | BadLine]:
    """Every line of the file, parsed, or the BadLine (with ``line_no``) it raised."""
    with open(path, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                yield parse_line(raw, line_no)
            except BadLine as bad:
                bad.line_no = line_no
                yield bad


def read_events(
    path: str | Path, fmt: str = "auto", stream_id: str | None = None
) -> Iterator[ReplayLine | BadLine]:
    """The file's events as :class:`ReplayLine` (or the BadLine of each line left out):
    JSONL through :func:`read_lines`, a chat log through ``chat_logs.read_log``.
    ``stream_id`` replaces every event's stream."""
    fmt = chat_logs.detect_format(path) if fmt == "auto" else fmt
    if fmt == "jsonl":
        for line in read_lines(path):
            if stream_id and isinstance(line, ReplayLine):
                line.event = {**line.event, "stream_id": stream_id}
                line.stream_id, line.raw = stream_id, encode_event(line.event)
            yield line
        return
    for item in chat_logs.read_log(path, fmt, stream_id):
        if isinstance(item, chat_logs.BadLine):
            bad = BadLine(str(item))
            bad.line_no = item.line_no
            yield bad
            continue
        e = item.event
        yield ReplayLine(item.position, e["event_type"], e["stream_id"], parse_ts(e["ts"]), e,
                         encode_event(e))  # fmt: skip


def shifted(line: ReplayLine, offset_ms: int) -> bytes:
    """The event with ``ts`` (and a parseable ``started_at``) moved by ``offset_ms``."""
    event = dict(line.event)
    event["ts"] = format_ts(line.ts_ms + offset_ms)
    started = event.get("started_at")
    if isinstance(started, str):
        try:
            event["started_at"] = format_ts(parse_ts(started) + offset_ms)
        except ValueError:
            pass  # left as it is: silver reports it
    return encode_event(event)


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
    stats = ReplayStats()
    offset_ms = 0
    if shift_to_now:
        latest = max(
            (ln.ts_ms for ln in read_events(path, fmt, stream_id) if isinstance(ln, ReplayLine)),
            default=None,
        )
        if latest is not None:
            offset_ms = int(time.time() * 1000) - latest
            stats.shift_s = offset_ms / 1000
    started = time.monotonic()
    with Sink(settings) as sink:
        limits = record_size_limits(settings)
        _publish(sink, read_events(path, fmt, stream_id), stats, speed, max_speed, offset_ms,
                 limits)  # fmt: skip
        sink.flush()
    stats.elapsed_s = time.monotonic() - started
    if len(stats.skipped) > MAX_WARNINGS:
        log.warning("%d bad lines skipped in %s in all", len(stats.skipped), path)
    return stats


def _publish(sink: Sink, lines, stats: ReplayStats, speed, max_speed, offset_ms, limits) -> None:
    first_ts = first_wall = None
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
        value = shifted(line, offset_ms) if offset_ms else line.raw
        size = len(value) + len(line.stream_id.encode()) + RECORD_OVERHEAD_BYTES
        if size > limits[line.event_type]:
            stats.skip(line.line_no, f"too large for Kafka: a record of {size:,} bytes, over "
                       f"the {line.event_type} topic's {limits[line.event_type]:,}")  # fmt: skip
            continue
        sink.send(line.event_type, line.stream_id, value)
        stats.sent += 1
        stats.by_topic[line.event_type] += 1
