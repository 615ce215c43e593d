"""The producer's progress bar: records against ``count``, or event time against the span.

One class for three situations: a rich bar in this process, nothing (no TTY, no bound),
or a worker process forwarding its progress to the parent's bar through a queue.
"""

from __future__ import annotations

from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

from pipelines.sim.event_codec import to_ms


class Progress:
    def __init__(self, total: float | None, by_count: bool, start_ms: int, sink: Any) -> None:
        self.total, self.by_count, self.start_ms = total, by_count, start_ms
        self._rich: RichProgress | None = None
        self._task = None
        self._queue, self._index = sink if isinstance(sink, tuple) else (None, None)
        self._workers: dict[int, tuple[int, int | None]] = {}

    @classmethod
    def local(cls, plan, enabled: bool) -> Progress:
        """A bar in this process (when enabled and the run is bounded), else a no-op."""
        by_count = plan.count is not None
        if by_count:
            total = float(plan.count)
        elif plan.end is not None:
            total = (to_ms(plan.end) - to_ms(plan.start)) / 1000
        else:
            total = None
        bar = cls(total, by_count, to_ms(plan.start), None)
        if enabled and total:
            unit = "records" if by_count else "s of event time"
            bar._rich = RichProgress(
                TextColumn(f"producing ({unit})"),
                BarColumn(),
                MofNCompleteColumn() if by_count else TextColumn("{task.percentage:>3.0f}%"),
                TimeRemainingColumn(),
                transient=False,
            )
        return bar

    @classmethod
    def remote(cls, queue, index: int) -> Progress:
        """A worker's progress: forwarded to the parent as ("progress", index, n, ts_ms)."""
        return cls(None, True, 0, (queue, index))

    def __enter__(self) -> Progress:
        if self._rich is not None:
            self._rich.start()
            self._task = self._rich.add_task("produce", total=self.total)
        return self

    def __exit__(self, *exc_info) -> None:
        if self._rich is not None:
            self._rich.stop()

    def update(self, n: int, ts_ms: int | None) -> None:
        """``n`` records sent so far, the last one due at ``ts_ms``."""
        if self._queue is not None:
            self._queue.put(("progress", self._index, n, ts_ms))
        elif self._rich is not None:
            self._show(n, ts_ms)

    def worker_update(self, index: int, n: int, ts_ms: int | None) -> None:
        self._workers[index] = (n, ts_ms)
        if self._rich is None:
            return
        times = [t for _, t in self._workers.values() if t is not None]
        self._show(sum(c for c, _ in self._workers.values()), min(times) if times else None)

    def _show(self, n: int, ts_ms: int | None) -> None:
        if self.by_count:
            done = float(n)
        else:
            done = 0.0 if ts_ms is None else max(0.0, (ts_ms - self.start_ms) / 1000)
        self._rich.update(self._task, completed=min(done, self.total))
