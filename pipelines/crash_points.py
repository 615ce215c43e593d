"""Write boundaries of a micro-batch, and a test-only hook that crashes the process at one.

Every Delta write of a streaming micro-batch goes through
:func:`pipelines.spark.retry_on_conflict`, which reports here once the write has returned
(its commit is on disk). The medallion query marks where a batch begins and ends, so this
module counts the batch's commits: the crash test reads :data:`commits_per_batch` to learn
how many boundaries a batch has.

With the ``test_kill_after_commit`` setting (``"<batch id>:<k>"``; empty, the default,
is off) the process SIGKILLs its whole process group, the Spark driver's JVM included,
right after the k-th commit of that batch: no ``finally``, no shutdown hook, as when the
machine loses power. The process must lead its own group (the tests start it with
``start_new_session``), so it never takes its parent down with it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

log = logging.getLogger(__name__)

_lock = threading.Lock()
_kill_at: tuple[int, int] | None = None
_batch: int | None = None
_commits = 0
# batch id -> Delta commits it made (the last few batches of this process)
commits_per_batch: dict[int, int] = {}


def parse(spec: str) -> tuple[int, int] | None:
    """``"3:5"`` -> (3, 5); ``""`` -> None."""
    if not spec:
        return None
    batch, _, k = spec.partition(":")  # the setting's pattern has checked the shape
    return int(batch), int(k)


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


def begin_batch(batch_id: int) -> None:
    global _batch, _commits
    with _lock:
        _batch, _commits = batch_id, 0


def end_batch() -> None:
    global _batch
    with _lock:
        if _batch is not None:
            commits_per_batch[_batch] = _commits
            for old in sorted(commits_per_batch)[:-8]:
                del commits_per_batch[old]
        _batch = None


def committed(what: str) -> None:
    """A Delta write returned: count it, and crash here when this is the armed boundary."""
    global _commits
    with _lock:
        if _batch is None:
            return
        _commits += 1
        k, batch = _commits, _batch
    log.debug("batch %d commit %d: %s", batch, k, what)
    if _kill_at == (batch, k):
        log.warning("test_kill_after_commit: SIGKILL after batch %d commit %d (%s)", batch, k, what)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.killpg(os.getpid(), signal.SIGKILL)
