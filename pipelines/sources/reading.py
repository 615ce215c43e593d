"""A file of events, read into what Kafka gets: our own JSONL (README, "Event formats") or a
chat log another tool wrote (``pipelines.sources.chat_logs``; ``fmt="auto"`` detects which).
``pipelines.sources.replay`` sends what this reads.

Each JSONL line must be routable: a JSON object with a known ``event_type``, a non-empty
string ``stream_id`` and a parseable ``ts``. Anything else is a :class:`BadLine` with its
line number and the reason, and the lines after it go on; deeper checks (payload fields
and types) are silver's job, as for live input. A valid line is sent as its exact bytes
unless its stream is replaced or its time shifted.

Files of independent lines (our JSONL and IRC logs) are cut at line ends into chunks of
``CHUNK_BYTES``. An IRC log's chunks are parsed by ``workers`` processes at once, in file
order: parsing IRC is most of its import's cost (measured: 52k lines/s in one process,
90k/s in two). Our JSONL parses faster than rows travel back from a worker, so its
chunks, and those of a small file or one worker, are parsed here. Chatterino logs (a
line's date comes from the header before it) and the JSON documents are read whole.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import msgspec

from pipelines.config import EVENT_TYPES
from pipelines.sim.event_codec import encode_event, format_ts, parse_ts
from pipelines.sources import chat_logs
from pipelines.sources.chat_logs import BadLine  # a line left out, with its number and why

LINE_FORMATS = ("jsonl", "irc")  # every line stands alone: read in chunks
PARALLEL_FORMATS = ("irc",)  # our JSONL parses faster than a worker's rows travel back
CHUNK_BYTES = 4 << 20
MAX_WORKERS = 8


@dataclass(slots=True)
class ReplayLine:
    """One event as Kafka gets it: its topic's event type, its key, its value (``raw``)."""

    line_no: int  # the source's line (or item) number
    event_type: str
    stream_id: str
    ts_ms: int  # the event's ts (after any shift), epoch milliseconds
    raw: bytes


def parse_line(raw: bytes, line_no: int) -> tuple[dict, int]:
    """One line of our JSONL: (the event, its ts in epoch ms) once it is routable; raise
    BadLine with the reason otherwise."""
    text = raw.strip()
    if not text:
        raise BadLine(line_no, "empty line")
    try:
        event = msgspec.json.decode(text)
    except ValueError as exc:  # msgspec's DecodeError, also for bad UTF-8
        raise BadLine(line_no, f"not valid JSON ({exc})") from None
    if not isinstance(event, dict):
        raise BadLine(line_no, f"not a JSON object (a {type(event).__name__})")
    event_type = event.get("event_type")
    if event_type not in EVENT_TYPES:
        raise BadLine(line_no, f"unknown event_type {event_type!r}")
    stream_id = event.get("stream_id")
    if not isinstance(stream_id, str) or not stream_id:
        raise BadLine(line_no, f"missing or empty stream_id ({stream_id!r})")
    try:
        ts_ms = parse_ts(event.get("ts"))
    except ValueError:
        raise BadLine(line_no, f"unparseable ts {event.get('ts')!r}") from None
    return event, ts_ms


def shifted(event: dict, ts_ms: int, offset_ms: int) -> dict:
    """The event with ``ts`` (and a parseable ``started_at``) moved by ``offset_ms``."""
    event = {**event, "ts": format_ts(ts_ms + offset_ms)}
    started = event.get("started_at")
    if isinstance(started, str):
        try:
            event["started_at"] = format_ts(parse_ts(started) + offset_ms)
        except ValueError:
            pass  # left as it is: silver reports it
    return event


def read_events(
    path: str | Path,
    fmt: str = "auto",
    stream_id: str | None = None,
    offset_ms: int = 0,
    workers: int = 1,
) -> Iterator[ReplayLine | BadLine]:
    """The file's events in file order, or the BadLine (with ``line_no``) of each line
    left out. ``stream_id`` replaces every event's stream; ``offset_ms`` shifts its
    times; ``workers`` > 1 parses a line format in that many processes."""
    fmt = chat_logs.detect_format(path) if fmt == "auto" else fmt
    if fmt in LINE_FORMATS:
        workers = workers if fmt in PARALLEL_FORMATS else 1
        yield from _line_file(Path(path), fmt, stream_id, offset_ms, workers)
        return
    for item in chat_logs.read_log(path, fmt, stream_id):
        if isinstance(item, BadLine):
            yield item
            continue
        e = item.event
        if offset_ms:
            e = shifted(e, item.ts_ms, offset_ms)
        yield ReplayLine(item.position, e["event_type"], e["stream_id"], item.ts_ms + offset_ms,
                         encode_event(e))  # fmt: skip


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


# ---- line formats, in chunks ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Chunk:
    path: str
    fmt: str
    start: int  # byte offsets: a chunk starts at a line's start and ends after a newline
    end: int
    stream_id: str | None
    offset_ms: int


def chunks(path: Path, size: int) -> list[tuple[int, int]]:
    """(start, end) byte ranges of about ``size`` covering the file, cut after newlines."""
    total = path.stat().st_size
    ranges, start = [], 0
    with open(path, "rb") as handle:
        while start < total:
            handle.seek(min(start + size, total))
            handle.readline()  # to the end of the line the cut fell in
            end = min(handle.tell(), total)
            ranges.append((start, end))
            start = end
    return ranges


def _line_file(path: Path, fmt: str, stream_id, offset_ms: int, workers: int):
    jobs = [Chunk(str(path), fmt, a, b, stream_id, offset_ms) for a, b in chunks(path, CHUNK_BYTES)]
    base = 0  # lines before the chunk
    for n_lines, rows in _parsed(jobs, workers):
        for row in rows:
            if len(row) == 2:
                yield BadLine(base + row[0], row[1])
            else:
                yield ReplayLine(base + row[0], row[1], row[2], row[3], row[4])
        base += n_lines


def _parsed(jobs: list[Chunk], workers: int) -> Iterator[tuple[int, list]]:
    """Each chunk's parse, in order: here, or in ``workers`` processes with at most two
    chunks each in flight (memory stays bounded when sending is the slower side)."""
    if workers <= 1 or len(jobs) < 2:
        yield from map(parse_chunk, jobs)
        return
    # Spawned, not forked: the caller may already hold the producer's threads. A worker
    # that dies raises BrokenProcessPool here rather than leaving the import waiting.
    workers = min(workers, len(jobs))
    spawn = mp.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=spawn) as pool:
        pending: deque = deque()
        for job in jobs:
            pending.append(pool.submit(parse_chunk, job))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def parse_chunk(job: Chunk) -> tuple[int, list[tuple]]:
    """(lines in the chunk, rows): ``(line, event_type, stream_id, ts_ms, raw)`` per event
    or ``(line, reason)`` per bad line, line numbers counted from the chunk's start. Plain
    tuples, as they travel back from a worker process."""
    with open(job.path, "rb") as handle:
        handle.seek(job.start)
        data = handle.read(job.end - job.start)
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()  # the newline that ends the chunk
    rows: list[tuple] = []
    if job.fmt == "jsonl":
        for n, raw in enumerate(lines, start=1):
            try:
                rows.append(_jsonl_row(n, raw, job))
            except BadLine as bad:
                rows.append((n, str(bad)))
    else:
        known = _known_emotes()
        for n, raw in enumerate(lines, start=1):
            rows.extend(_irc_rows(n, raw, job, known))
    return len(lines), rows


def _jsonl_row(n: int, raw: bytes, job: Chunk) -> tuple:
    event, ts_ms = parse_line(raw, n)
    if job.stream_id or job.offset_ms:
        if job.stream_id:
            event["stream_id"] = job.stream_id
        event = shifted(event, ts_ms, job.offset_ms) if job.offset_ms else event
        return (n, event["event_type"], event["stream_id"], ts_ms + job.offset_ms,
                encode_event(event))  # fmt: skip
    return n, event["event_type"], event["stream_id"], ts_ms, raw.strip()


def _irc_rows(n: int, raw: bytes, job: Chunk, known) -> list[tuple]:
    found = chat_logs.irc_line(raw, job.stream_id, known)
    if found is None:
        return []
    if isinstance(found, str):
        return [(n, found)]
    ts_ms, events = found
    return [(n, e["event_type"], e["stream_id"], ts_ms + job.offset_ms,
             encode_event(shifted(e, ts_ms, job.offset_ms) if job.offset_ms else e))
            for e in events]  # fmt: skip


@cache
def _known_emotes() -> chat_logs.KnownEmotes:
    """The emote names, read once per process (a worker's too)."""
    return chat_logs.known_emotes()
