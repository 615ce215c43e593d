"""Write boundaries of a micro-batch, and a test-only hook that crashes the process at one.

Every Delta write of a streaming micro-batch goes through
:func:`pipelines.jobs.spark.retry_on_conflict`, which reports here once the write has returned
(its commit is on disk). The hot query and the settle query mark where each of their
batches begins and ends, so this module counts each batch's commits: the crash test reads
:data:`commits_per_batch` to learn how many boundaries a batch has. The two queries run
side by side, so the batch a commit belongs to is a context variable of the thread that
runs the batch (``pipelines.jobs.spark.in_parallel`` hands it to its workers).

With the ``test_kill_after_commit`` setting (``"<query>:<batch id>:<k>"``; empty, the
default, is off) the process SIGKILLs its whole process group, the Spark driver's JVM
included, right after the k-th commit of that batch: no ``finally``, no shutdown hook, as
when the machine loses power. The process must lead its own group (the tests start it
with ``start_new_session``), so it never takes its parent down with it.
"""

from __future__ import annotations

import contextvars
import logging
import os
import signal
import threading

log = logging.getLogger(__name__)

_lock = threading.Lock()
_kill_at: tuple[str, int, int] | None = None
_current: contextvars.ContextVar[tuple[str, int] | None] = contextvars.ContextVar(
    "telemetra_batch", default=None
)
_commits: dict[tuple[str, int], int] = {}  # running batches
# (query, batch id) -> Delta commits it made (the last few batches of this process)
commits_per_batch: dict[tuple[str, int], int] = {}


def parse(spec: str) -> tuple[str, int, int] | None:
    """``"medallion:3:5"`` -> ("medallion", 3, 5); ``""`` -> None."""
    if not spec:
        return None
    query, batch, k = spec.split(":")  # the setting's pattern has checked the shape
    return query, int(batch), int(k)


def arm(spec: str) -> None:
    """Set (or with ``""`` clear) the crash point; refuses unless this process leads its group."""
    global _kill_at
    point = parse(spec)
    if point is not None and os.getpgid(0) != os.getpid():
        raise RuntimeError(
            "test_kill_after_commit kills the process group, so the process must lead one "
            "(start it in a session of its own)"
        )
    _kill_at = point


def begin_batch(query: str, batch_id: int) -> None:
    with _lock:
        _commits[(query, batch_id)] = 0
    _current.set((query, batch_id))


def end_batch(query: str) -> None:
    batch = _current.get()
    _current.set(None)
    if batch is None or batch[0] != query:
        return
    with _lock:
        commits_per_batch[batch] = _commits.pop(batch, 0)
        for old in sorted(commits_per_batch)[:-16]:
            del commits_per_batch[old]


def committed(what: str) -> None:
    """A Delta write returned: count it, and crash here when this is the armed boundary."""
    batch = _current.get()
    if batch is None:
        return
    with _lock:
        if batch not in _commits:
            return
        _commits[batch] += 1
        k = _commits[batch]
    log.debug("%s batch %d commit %d: %s", *batch, k, what)
    if _kill_at == (*batch, k):
        log.warning("test_kill_after_commit: SIGKILL after %s batch %d commit %d (%s)",
                    *batch, k, what)  # fmt: skip
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.killpg(os.getpid(), signal.SIGKILL)
