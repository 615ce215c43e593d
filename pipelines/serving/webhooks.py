"""Moment alerts: each new moment POSTed once to every ``alert_webhook_urls`` URL.

An outbox on local disk (SQLite, ``<run_dir>/api/webhooks.sqlite``) holds one row per
(moment, URL): pending, delivered or failed, with its attempts and last error. The API
process runs :meth:`WebhookOutbox.run`: when ``gold/moments`` gets a new Delta version, the
moments not in the outbox yet go in as pending; every pending row that is due is POSTed
(``Idempotency-Key: <moment_id>``), marked delivered on a 2xx, otherwise retried after
2, 4, 8 ... (at most 300) seconds until ``webhook_max_attempts``, then marked failed.
Because the outbox survives restarts, a restart never re-sends what was delivered. A crash
between a receiver's 2xx and the row's update can send that one moment again, under the
same idempotency key: receivers should drop repeats of a key.

"New" means ending after :data:`GRACE` before the outbox was first created: a backfill or
an imported chat log does not flood the receivers with its history. Each scan reads only
the moments ending after the newest end seen so far less :data:`GRACE` (kept in the outbox:
after hours down, the pipeline's catch-up moments still end after it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sqlite3
import time
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

from pipelines.serving.api_models import envelope
from pipelines.serving.live_feed import records
from pipelines.serving.queries import GoldQueries

log = logging.getLogger(__name__)
GRACE = timedelta(minutes=10)  # a moment is settled this long after it ends, at most
MAX_BACKOFF_S = 300
TIMEOUT_S = 10

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries (
    moment_id TEXT NOT NULL, url TEXT NOT NULL, body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL, last_error TEXT,
    delivered_at TEXT, PRIMARY KEY (moment_id, url));
"""


def outbox_path(run_path: Path) -> Path:
    return run_path / "api" / "webhooks.sqlite"


def summary(path: Path) -> dict[str, int | str | None] | None:
    """Deliveries by status and the newest error; None when there is no outbox."""
    if not path.exists():
        return None
    with closing(sqlite3.connect(path)) as db:
        counts = dict(db.execute("SELECT status, count(*) FROM deliveries GROUP BY status"))
        error = db.execute(
            "SELECT url || ': ' || last_error FROM deliveries WHERE last_error IS NOT NULL "
            "ORDER BY next_at DESC LIMIT 1"
        ).fetchone()
    return {
        "delivered": counts.get("delivered", 0),
        "pending": counts.get("pending", 0),
        "failed": counts.get("failed", 0),
        "last_error": error[0] if error else None,
    }


class WebhookOutbox:
    def __init__(self, queries: GoldQueries, urls: list[str], path: Path,
                 max_attempts: int = 8, poll_seconds: float = 1.0) -> None:  # fmt: skip
        self.queries, self.urls, self.path = queries, urls, path
        self.max_attempts, self.poll_seconds = max_attempts, poll_seconds
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._db()) as db:
            db.executescript(_SCHEMA)
            first = datetime.now(timezone.utc) - GRACE
            db.execute("INSERT OR IGNORE INTO meta VALUES ('since', ?)", (first.isoformat(),))
            (since,) = db.execute("SELECT value FROM meta WHERE key = 'since'").fetchone()
        self.since = _time(since)
        self._moments_version: int | None = None

    def _db(self) -> sqlite3.Connection:
        """A connection per use: the outbox is touched from worker threads."""
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            while True:
                try:
                    await asyncio.to_thread(self.enqueue_new)
                    await self.deliver_due(client)
                except Exception:  # a bad round is logged; the next one tries again
                    log.exception("webhooks: round failed")
                await asyncio.sleep(self.poll_seconds)

    def enqueue_new(self) -> int:
        """Add the moments the outbox has not seen, once per URL; returns how many rows."""
        version = self.queries.tables.load("moments").version
        if version is None or version == self._moments_version:
            return 0
        with closing(self._db()) as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'newest_end'").fetchone()
        # A moment settles at most GRACE after the newest end already seen (one pipeline
        # settles every stream in event-time order): older ones were read by an earlier scan.
        start = self.since if row is None else max(self.since, _time(row[0]) - GRACE)
        moments = records(self.queries.moments(start=start))
        ends = [_time(m["end_ts"]) for m in moments]
        newest = max([*ends, *([_time(row[0])] if row else [])], default=None)
        now = time.time()
        added = 0
        with closing(self._db()) as db:
            for moment in moments:
                body = json.dumps(envelope("notification", {"event": moment}, "stream.moment"))
                for url in self.urls:
                    added += db.execute(
                        "INSERT OR IGNORE INTO deliveries (moment_id, url, body, status, next_at)"
                        " VALUES (?, ?, ?, 'pending', ?)",
                        (moment["moment_id"], url, body, now),
                    ).rowcount
            if newest is not None:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('newest_end', ?)",
                           (newest.isoformat(),))  # fmt: skip
        self._moments_version = version
        if added:
            log.info("webhooks: %d new deliveries queued", added)
        return added

    async def deliver_due(self, client: httpx.AsyncClient) -> None:
        def due() -> list[tuple]:
            with closing(self._db()) as db:
                return db.execute(
                    "SELECT moment_id, url, body, attempts FROM deliveries "
                    "WHERE status = 'pending' AND next_at <= ? ORDER BY next_at LIMIT 100",
                    (time.time(),),
                ).fetchall()

        for moment_id, url, body, attempts in await asyncio.to_thread(due):
            error = await _post(client, url, body, moment_id)
            await asyncio.to_thread(self._record, moment_id, url, attempts + 1, error)

    def _record(self, moment_id: str, url: str, attempts: int, error: str | None) -> None:
        with closing(self._db()) as db:
            if error is None:
                db.execute(
                    "UPDATE deliveries SET status = 'delivered', attempts = ?, delivered_at = ?,"
                    " last_error = NULL WHERE moment_id = ? AND url = ?",
                    (attempts, datetime.now(timezone.utc).isoformat(), moment_id, url),
                )
                return
            failed = attempts >= self.max_attempts
            backoff = min(MAX_BACKOFF_S, 2**attempts) * random.uniform(0.8, 1.2)
            db.execute(
                "UPDATE deliveries SET status = ?, attempts = ?, next_at = ?, last_error = ?"
                " WHERE moment_id = ? AND url = ?",
                ("failed" if failed else "pending", attempts, time.time() + backoff, error,
                 moment_id, url),
            )  # fmt: skip
            level = logging.ERROR if failed else logging.WARNING
            log.log(level, "webhook %s for moment %s, attempt %d%s: %s", url, moment_id,
                    attempts, " (giving up)" if failed else "", error)  # fmt: skip


def _time(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


async def _post(client: httpx.AsyncClient, url: str, body: str, moment_id: str) -> str | None:
    """POST one delivery; None on a 2xx, else why not (one line)."""
    headers = {"Content-Type": "application/json", "Idempotency-Key": moment_id,
               "User-Agent": "telemetra-webhooks"}  # fmt: skip
    try:
        response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"
