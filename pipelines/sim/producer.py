"""Send synthetic events (``pipelines.sim.events``) to Kafka with kafka-python.

Two clocks:

- paced (default): event time is the wall clock; records go out when their time comes,
  for ``count`` records, ``duration`` seconds, or until Ctrl-C / SIGTERM (then the
  channels get an ``offline`` stream_meta, the producer flushes and stops cleanly);
- ``fast``: the whole span, ending at the last whole minute, is generated and sent as fast
  as the broker takes it. The span is ``duration`` seconds, or long enough for ``count`` records
  (a 6% margin absorbs randomness; the run stops at exactly ``count``).

``processes > 1`` splits the channels across worker processes (spawned, one producer
each); per-channel RNGs make the events identical to a one-process run.
Ground truth rows go to ``truth_file``: only moments that ended by the last record sent.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import queue as queue_module
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pipelines.config import Settings
from pipelines.sim.event_codec import from_ms
from pipelines.sim.events import generate
from pipelines.sim.kafka_sink import BrokerUnavailable, ProducerError, Sink
from pipelines.sim.producer_progress import Progress

log = logging.getLogger(__name__)

COUNT_MARGIN = 1.06  # span slack so a fast run reaches its count before the span ends
PACE_SLACK_S = 0.02  # records due within this much are sent together, without sleeping

__all__ = ["BrokerUnavailable", "ProduceStats", "ProducerError", "produce"]


@dataclass
class ProduceStats:
    sent: int = 0
    by_topic: Counter = field(default_factory=Counter)
    by_kind: Counter = field(default_factory=Counter)
    elapsed_s: float = 0.0
    moments: int = 0
    first_ts: datetime | None = None
    last_ts: datetime | None = None

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def add(self, other: ProduceStats) -> None:
        self.sent += other.sent
        self.by_topic.update(other.by_topic)
        self.by_kind.update(other.by_kind)
        self.moments += other.moments
        firsts = [t for t in (self.first_ts, other.first_ts) if t is not None]
        lasts = [t for t in (self.last_ts, other.last_ts) if t is not None]
        self.first_ts = min(firsts) if firsts else None
        self.last_ts = max(lasts) if lasts else None

    def __str__(self) -> str:
        kinds = ", ".join(f"{k}={v}" for k, v in sorted(self.by_kind.items()))
        topics = ", ".join(f"{k}={v}" for k, v in sorted(self.by_topic.items()))
        return (
            f"sent {self.sent} records in {self.elapsed_s:.1f}s ({self.rate:,.0f}/s); "
            f"moments {self.moments}; kinds: {kinds or '-'}; topics: {topics or '-'}"
        )

    def __rich__(self) -> str:
        return str(self)


@dataclass
class _Plan:
    """What one process sends: everything but the channel list is shared."""

    channels: list[str]
    rate: float
    start: datetime
    end: datetime | None
    count: int | None
    paced: bool
    seed: int | str
    bad_ratio: float


def produce(
    settings: Settings,
    channels: list[str],
    rate: float,
    count: int | None = None,
    duration: float | None = None,
    fast: bool = False,
    seed: int = 42,
    bad_ratio: float = 0.0,
    truth_file: str | Path | None = None,
    processes: int = 1,
    progress: bool = True,
) -> ProduceStats:
    """Produce synthetic events to the four event topics; see the module docstring."""
    plan = _plan(channels, rate, count, duration, fast, seed, bad_ratio)
    progress = progress and sys.stderr.isatty() and (count is not None or duration is not None)
    started = time.monotonic()
    workers = min(processes, len(channels))
    if processes > workers:
        log.warning(
            "%d processes asked for %d channels: using %d", processes, len(channels), workers
        )
    if workers <= 1:
        stats, truth = _run(settings, plan, Progress.local(plan, progress))
    else:
        stats, truth = _run_parallel(settings, plan, workers, progress)
    stats.elapsed_s = time.monotonic() - started
    stats.moments = len(truth)
    if truth_file is not None:
        _write_truth(Path(truth_file), truth)
    return stats


def _plan(channels, rate, count, duration, fast, seed, bad_ratio) -> _Plan:
    if not channels:
        raise ValueError("no channels to produce for")
    if rate <= 0:
        raise ValueError(f"rate must be > 0 events/s per channel, got {rate}")
    if count is not None and count < 1 or duration is not None and duration <= 0:
        raise ValueError("count and duration must be positive")
    now = datetime.now(timezone.utc)
    if fast:
        if duration is None and count is None:
            raise ValueError("--fast needs --count or --duration (the span it generates)")
        span_s = duration if duration is not None else count / rate / len(channels) * COUNT_MARGIN
        # The span ends on the last whole minute, so a seed gives the same events at the same
        # offsets from the 10-s window grid whenever it runs (the moments found depend on it).
        end = now.replace(second=0, microsecond=0)
        return _Plan(list(channels), rate, end - timedelta(seconds=span_s), end, count, False,
                     seed, bad_ratio)  # fmt: skip
    end = None if duration is None else now + timedelta(seconds=duration)
    # A paced run is live: its event ids must not repeat an earlier run's, or a second demo
    # over the same lake would be quarantined as duplicates. The start time joins the seed.
    run_seed = f"{seed}@{now.isoformat()}"
    return _Plan(list(channels), rate, now, end, count, True, run_seed, bad_ratio)


def _run(settings: Settings, plan: _Plan, bar: Progress) -> tuple[ProduceStats, list[dict]]:
    """Generate and send one plan in this process; stop cleanly on Ctrl-C / SIGTERM."""
    stop = threading.Event()
    restore = _on_sigterm(stop)
    gen = generate(plan.channels, plan.rate, plan.start, plan.end, plan.seed, plan.bad_ratio)
    stats = ProduceStats()
    last_ms = None
    try:
        with Sink(settings) as sink, bar:
            last_ms = _send_all(gen, plan, sink, stats, bar, stop)
            if stop.is_set() and plan.paced and last_ms is not None:
                # Stopped by Ctrl-C / SIGTERM: tell consumers the channels went offline.
                for rec in gen.offline_records(from_ms(last_ms + 1)):
                    sink.send(rec.topic_type, rec.key, rec.value)
                    stats.by_topic[rec.topic_type] += 1
                    stats.by_kind[rec.kind] += 1
            sink.flush()
            stats.sent = sum(stats.by_kind.values())
            bar.update(stats.sent, last_ms)
    finally:
        restore()
    if last_ms is None:
        return stats, []
    stats.last_ts = from_ms(last_ms)
    return stats, gen.truth_rows(until=stats.last_ts)


def _send_all(gen, plan: _Plan, sink: Sink, stats: ProduceStats, bar: Progress, stop) -> int | None:
    """The hot loop; returns the due time of the last record sent (epoch ms).

    Sets ``stop`` when interrupted by Ctrl-C, so the caller knows the run was cut short.
    """
    by_topic, by_kind, paced, count = stats.by_topic, stats.by_kind, plan.paced, plan.count
    last_ms = None
    try:
        for n, rec in enumerate(gen, start=1):
            if paced and not _wait_until(rec.ts_ms, stop):
                break
            sink.send(rec.topic_type, rec.key, rec.value)
            by_topic[rec.topic_type] += 1
            by_kind[rec.kind] += 1
            last_ms = rec.ts_ms
            if n == 1:
                stats.first_ts = from_ms(last_ms)
            if n & 1023 == 0:
                bar.update(n, last_ms)
                if stop.is_set():
                    break
            if n == count:
                break
    except KeyboardInterrupt:
        log.info("interrupted: flushing what was sent")
        stop.set()
    return last_ms


def _wait_until(due_ms: int, stop: threading.Event) -> bool:
    """Sleep until a record is due (paced mode); False when asked to stop meanwhile."""
    delay = due_ms / 1000 - time.time()
    if delay > PACE_SLACK_S:
        return not stop.wait(delay)
    return not stop.is_set()


def _on_sigterm(stop: threading.Event):
    """Turn SIGTERM into a clean stop (main thread only); returns the undo function."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return lambda: signal.signal(signal.SIGTERM, previous)


# ---- several processes ----------------------------------------------------------------------
def _split(plan: _Plan, workers: int) -> list[_Plan]:
    """Channels round-robin over workers; a count split in proportion to channels."""
    groups = [plan.channels[i::workers] for i in range(workers)]
    plans = []
    for i, group in enumerate(groups):
        count = None
        if plan.count is not None:
            before = sum(len(g) for g in groups[:i])
            count = plan.count * (before + len(group)) // len(plan.channels)
            count -= plan.count * before // len(plan.channels)
        plans.append(replace(plan, channels=group, count=count))
    return plans


def _worker(settings: Settings, plan: _Plan, index: int, queue) -> None:
    """A spawned process: run one plan, report progress and the result on ``queue``."""
    logging.basicConfig(level=settings.log_level)
    # Starved of CPU on purpose, the client warns about its own slow event loop: noise here.
    logging.getLogger("kafka").setLevel(logging.ERROR)
    try:
        stats, truth = _run(settings, plan, Progress.remote(queue, index))
        queue.put(("done", index, stats, truth))
    except KeyboardInterrupt:
        queue.put(("error", index, "interrupted before the producer started", None))
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        queue.put(("error", index, f"{type(exc).__name__}: {exc}", None))


def _run_parallel(
    settings: Settings, plan: _Plan, workers: int, progress: bool
) -> tuple[ProduceStats, list[dict]]:
    ctx = mp.get_context("spawn")  # no forking a process that may hold sockets or threads
    queue = ctx.Queue()
    plans = _split(plan, workers)
    procs = [
        ctx.Process(target=_worker, args=(settings, p, i, queue), name=f"producer-{i}")
        for i, p in enumerate(plans)
    ]
    for proc in procs:
        proc.start()
    stats, truth, errors = ProduceStats(), [], []
    stop = threading.Event()
    restore = _on_sigterm(stop)
    try:
        with Progress.local(plan, progress) as bar:
            pending = set(range(workers))
            while pending:
                _collect(queue, procs, pending, stop, bar, stats, truth, errors)
    finally:
        restore()
        for proc in procs:
            proc.join(timeout=30)
    if errors:
        raise ProducerError("; ".join(errors))
    return stats, truth


def _collect(queue, procs, pending: set, stop, bar: Progress, stats, truth, errors) -> None:
    """Handle one message from the workers (or notice one died, or pass on a stop)."""
    try:
        if stop.is_set():
            stop.clear()
            for i in pending:
                procs[i].terminate()  # SIGTERM: the worker stops, flushes and reports
        msg = queue.get(timeout=0.5)
    except KeyboardInterrupt:
        # Ctrl-C reached the workers too; they flush and report, so keep collecting.
        log.info("interrupted: waiting for the workers to flush")
        return
    except queue_module.Empty:
        dead = [i for i in pending if not procs[i].is_alive()]
        if dead and queue.empty():
            errors += [f"worker {i} exited with code {procs[i].exitcode}" for i in dead]
            pending -= set(dead)
        return
    kind, index = msg[0], msg[1]
    if kind == "progress":
        bar.worker_update(index, msg[2], msg[3])
        return
    pending.discard(index)
    if kind == "done":
        stats.add(msg[2])
        truth += msg[3]
    else:
        errors.append(f"worker {index}: {msg[2]}")


def _write_truth(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = sorted(rows, key=lambda r: (r["start"], r["stream_id"]))
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
