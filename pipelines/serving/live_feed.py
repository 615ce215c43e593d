"""What ``WS /live/{stream_id}`` pushes: one poller per watched stream, shared by its clients.

A :class:`Feed` looks every ``poll_seconds`` at the Delta versions of the tables it reads
(a version check, no query). When the hot path's panes or the settled windows moved on it
reads the stream's live snapshot once (``GoldQueries.live_snapshot``, fresh from the
panes) and, if it changed, hands one ``stream.metrics`` message to every client's queue;
when ``gold/moments`` moved on, each moment of the stream it has not seen yet becomes a
``stream.moment`` message. Two hundred clients of one stream cost one query per change,
not two hundred. A feed starts with its first client and stops with its last.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import pandas as pd

from pipelines.serving.api_models import envelope
from pipelines.serving.queries import GoldQueries

log = logging.getLogger(__name__)
QUEUE_SIZE = 64  # messages a client may fall behind by before it is dropped


def records(frame: pd.DataFrame) -> list[dict]:
    """JSON-ready rows: times as ISO 8601 UTC, NaN/NaT as None, lists as lists."""
    return json.loads(frame.to_json(orient="records", date_format="iso", date_unit="ms"))


class Feed:
    def __init__(self, queries: GoldQueries, stream_id: str, poll_seconds: float) -> None:
        self.queries, self.stream_id, self.poll_seconds = queries, stream_id, poll_seconds
        self.clients: set[asyncio.Queue] = set()
        self.latest: dict | None = None  # the newest stream.metrics message, for new clients
        self._versions: tuple | None = None
        self._moments_version: int | None = None
        self._seen: set[str] | None = None
        self.task: asyncio.Task | None = None

    async def run(self) -> None:
        while True:
            try:
                await self._poll()
            except Exception:  # one failed read (a table mid-rewrite) must not end the feed
                log.exception("live feed for %s: poll failed", self.stream_id)
            await asyncio.sleep(self.poll_seconds)

    async def _poll(self) -> None:
        tables = self.queries.tables
        versions = await asyncio.to_thread(
            lambda: tuple(tables.load(t).version for t in ("panes", "stream_minute_metrics"))
        )
        if versions != self._versions:
            self._versions = versions
            snapshot = await asyncio.to_thread(self._snapshot)
            if snapshot is not None and snapshot != (self.latest or {}).get("payload", {}).get(
                "event"
            ):
                self.latest = self._notification("stream.metrics", snapshot)
                self._send(self.latest)
        moments_version = await asyncio.to_thread(lambda: tables.load("moments").version)
        if moments_version != self._moments_version:
            self._moments_version = moments_version
            for moment in await asyncio.to_thread(self._new_moments):
                self._send(self._notification("stream.moment", moment))

    def _snapshot(self) -> dict | None:
        """The Live page's snapshot: from the panes, or the settled windows without them."""
        rows = records(self.queries.newest_snapshot(self.stream_id))
        return rows[0] if rows else None

    def _new_moments(self) -> list[dict]:
        """The stream's moments not seen before, oldest first; none the first time (the
        moments a client connects to are history, not news)."""
        rows = records(self.queries.moments(stream_ids=[self.stream_id]))
        first = self._seen is None
        seen = self._seen or set()
        new = [m for m in rows if m["moment_id"] not in seen]
        self._seen = seen | {m["moment_id"] for m in new}
        return [] if first else sorted(new, key=lambda m: (m["start_ts"], m["moment_id"]))

    def _notification(self, kind: str, event: dict) -> dict:
        subscription = {"type": kind, "condition": {"stream_id": self.stream_id}}
        return envelope("notification", {"subscription": subscription, "event": event}, kind)

    def _send(self, message: dict) -> None:
        for queue in list(self.clients):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:  # a client this far behind is dropped, not waited for
                self.clients.discard(queue)


class LiveHub:
    """The feeds by stream id; used from the event loop only."""

    def __init__(self, queries: GoldQueries, poll_seconds: float) -> None:
        self.queries, self.poll_seconds = queries, poll_seconds
        self.feeds: dict[str, Feed] = {}

    def subscribe(self, stream_id: str) -> tuple[Feed, asyncio.Queue]:
        feed = self.feeds.get(stream_id)
        if feed is None:
            feed = self.feeds[stream_id] = Feed(self.queries, stream_id, self.poll_seconds)
            feed.task = asyncio.create_task(feed.run(), name=f"live feed {stream_id}")
        queue: asyncio.Queue = asyncio.Queue(QUEUE_SIZE)
        feed.clients.add(queue)
        return feed, queue

    async def unsubscribe(self, stream_id: str, queue: asyncio.Queue) -> None:
        feed = self.feeds.get(stream_id)
        if feed is None:
            return
        feed.clients.discard(queue)
        if not feed.clients:
            del self.feeds[stream_id]
            await _cancel(feed.task)

    async def close(self) -> None:
        for feed in list(self.feeds.values()):
            await _cancel(feed.task)
        self.feeds.clear()


async def _cancel(task: asyncio.Task | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
