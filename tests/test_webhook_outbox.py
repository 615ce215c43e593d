"""The webhook outbox's bookkeeping (no server): retries back off, then a delivery fails for
good and ``telemetra health`` says so. Delivery itself is tested in test_api_live.py."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing

from pipelines.ops.health import _api
from pipelines.serving import webhooks
from pipelines.serving.queries import GoldQueries


def _outbox(settings, tmp_path) -> webhooks.WebhookOutbox:
    path = webhooks.outbox_path(tmp_path / "run")
    box = webhooks.WebhookOutbox(GoldQueries(settings.lake_root), ["http://127.0.0.1:9/x"],
                                 path, max_attempts=3)  # fmt: skip
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("INSERT INTO deliveries (moment_id, url, body, status, next_at) "
                   "VALUES ('m1', 'http://127.0.0.1:9/x', '{}', 'pending', 0)")  # fmt: skip
    return box


def _row(box) -> tuple:
    with closing(sqlite3.connect(box.path)) as db:
        return db.execute("SELECT status, attempts, next_at, last_error FROM deliveries").fetchone()


def test_a_failing_receiver_is_retried_later_each_time_then_given_up(settings, tmp_path):
    box = _outbox(settings, tmp_path)
    waits = []
    for attempt in (1, 2):
        box._record("m1", "http://127.0.0.1:9/x", attempt, "HTTP 503")
        status, attempts, next_at, error = _row(box)
        assert (status, attempts, error) == ("pending", attempt, "HTTP 503")
        waits.append(next_at - time.time())
    assert 1.5 < waits[0] < 2.5 and 3 < waits[1] < 5  # 2 s, then 4 s (±20% jitter)
    box._record("m1", "http://127.0.0.1:9/x", 3, "ConnectError: refused")
    assert _row(box)[:2] == ("failed", 3)
    assert webhooks.summary(box.path) == {
        "delivered": 0, "pending": 0, "failed": 1,
        "last_error": "http://127.0.0.1:9/x: ConnectError: refused",
    }  # fmt: skip
    health = settings.model_copy(
        update={"run_dir": str(tmp_path / "run"), "alert_webhook_urls": "http://127.0.0.1:9/x",
                "api_port": 9}  # nothing listens: the api check fails too
    )  # fmt: skip
    checks = {c.name: c for c in _api(health)}
    assert not checks["api"].ok
    assert not checks["webhooks"].ok and "1 failed" in checks["webhooks"].detail


def test_a_delivered_moment_is_marked_and_its_error_cleared(settings, tmp_path):
    box = _outbox(settings, tmp_path)
    box._record("m1", "http://127.0.0.1:9/x", 1, "HTTP 500")
    box._record("m1", "http://127.0.0.1:9/x", 2, None)
    status, attempts, _, error = _row(box)
    assert (status, attempts, error) == ("delivered", 2, None)
    assert webhooks.summary(box.path)["delivered"] == 1
