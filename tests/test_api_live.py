"""The API over a lake the pipeline is writing (issue 26): live pushes and moment webhooks.

The real broker and Spark build the lake (``telemetra run all``, availableNow); ``telemetra
api`` runs as a process of its own. A new micro-batch of the hot path must reach a
``/live`` client as a ``stream.metrics`` message, a new row of ``gold/moments`` as a
``stream.moment`` message and as one webhook POST to a local receiver, and a restart of the
API must not POST any moment again. The moments the tests add are appended with Spark in
the gold schema, as the settle step appends them (a real Delta commit; detecting a moment
on purpose would need many minutes of chat).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from api_helpers import free_port, running_api
from fault_helpers import send_raw, wait_for
from kafka_helpers import with_fresh_topics
from silver_fixture import event
from websockets.sync.client import connect

from pipelines.core import schemas
from pipelines.jobs import runner
from pipelines.sim.event_codec import encode_event
from pipelines.sim.producer import produce
from pipelines.transforms.common import spark_type

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
AVAILABLE_NOW = {"availableNow": True}


@pytest.fixture(scope="module")
def lake(spark, kafka_broker, tmp_path_factory):
    root = tmp_path_factory.mktemp("api_live")
    settings = with_fresh_topics(kafka_broker, root, "api", run_dir=str(root / "run"))
    produce(settings, ["alpha"], rate=5.0, duration=600, fast=True, seed=3, progress=False)
    runner.run_stream(spark, settings, "all", AVAILABLE_NOW)
    return settings


def _append_moment(spark, settings, moment_id: str) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    start, peak = now - timedelta(seconds=40), now - timedelta(seconds=20)
    row = (moment_id, "alpha", "chat_spike", start, now, peak, 80.0, 5.5, 20.0, 4.0,
           [("PogChamp", 12)], ["Pog"])  # fmt: skip
    frame = spark.createDataFrame([row], spark_type(schemas.MOMENTS))
    frame.write.format("delta").mode("append").save(settings.table_path("gold", "moments"))


def _next(ws, kind: str, timeout_s: float = 30) -> dict:
    """The next notification of ``kind`` (keepalives and other kinds skipped)."""
    deadline = datetime.now() + timedelta(seconds=timeout_s)
    while datetime.now() < deadline:
        message = json.loads(ws.recv(timeout=timeout_s))
        if message["metadata"].get("subscription_type") == kind:
            return message
    raise AssertionError(f"no {kind} message in {timeout_s}s")


def test_a_new_micro_batch_and_a_new_moment_are_pushed(spark, lake, tmp_path):
    with running_api(lake, tmp_path / "api.log") as base:
        assert httpx.get(f"{base}/health").json()["ok"] is True  # lake and broker up
        url = base.replace("http://", "ws://") + "/live/alpha"
        with connect(url, open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["metadata"]["message_type"] == "session_welcome"
            before = _next(ws, "stream.metrics")["payload"]["event"]
            now = datetime.now(timezone.utc).replace(microsecond=0)
            send_raw(lake, [("chat", "alpha", encode_event(event("chat", "api-live-1", now,
                                                                 stream="alpha")))])  # fmt: skip
            runner.run_stream(spark, lake, runner.HOT, AVAILABLE_NOW)  # one hot micro-batch
            after = _next(ws, "stream.metrics")["payload"]["event"]
            assert before["last_event_ts"] < after["last_event_ts"]
            assert after["last_event_ts"].startswith(now.strftime("%Y-%m-%dT%H:%M:%S"))

            _append_moment(spark, lake, "api-moment-live")
            moment = _next(ws, "stream.moment")
            assert moment["payload"]["event"]["moment_id"] == "api-moment-live"
            assert moment["payload"]["subscription"]["condition"] == {"stream_id": "alpha"}
        # the newest minute points are the hot path's, ahead of settling
        since = (now - timedelta(minutes=1)).isoformat()
        params = {"resolution": "10s", "first": 100, "from": since}
        points = httpx.get(f"{base}/streams/alpha/metrics", params=params, timeout=30).json()
        unsettled = [p for p in points["data"] if not p["settled"]]
        assert unsettled and unsettled[-1]["window_end"] > now.isoformat()[:19]


class _Receiver(BaseHTTPRequestHandler):
    """Records every POST; answers 503 to the first POST of each key in ``fail_first``."""

    posts: list[tuple[str, int, dict]] = []  # (Idempotency-Key, status answered, body)
    fail_first: set[str] = set()

    def do_POST(self):  # noqa: N802 (the http.server interface)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        key = self.headers["Idempotency-Key"]
        status = 200
        if key in self.fail_first:
            self.fail_first.discard(key)
            status = 503
        self.posts.append((key, status, body))
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_each_moment_is_posted_once_across_a_restart(spark, lake, tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver = f"http://127.0.0.1:{server.server_port}/hook"
    env = {"ALERT_WEBHOOK_URLS": receiver, "TELEMETRA_API_POLL_SECONDS": "0.2"}
    _Receiver.fail_first = {"api-hook-1"}
    delivered = lambda key: any(k == key and s == 200 for k, s, _ in _Receiver.posts)  # noqa: E731
    try:
        with running_api(lake, tmp_path / "api.log", **env) as base:
            _append_moment(spark, lake, "api-hook-1")
            wait_for(lambda: delivered("api-hook-1"), 60, "the first moment's webhook")
            hooks = httpx.get(f"{base}/health").json()["webhooks"]
            assert hooks["failed"] == 0 and hooks["delivered"] >= 1
        with running_api(lake, tmp_path / "api.log", **env):  # the restart
            _append_moment(spark, lake, "api-hook-2")
            wait_for(lambda: delivered("api-hook-2"), 60, "the second moment's webhook")
            time.sleep(3)  # a few more rounds of the outbox: anything it would re-send
    finally:
        server.shutdown()
    ok = Counter(k for k, s, _ in _Receiver.posts if s == 200)
    assert ok["api-hook-1"] == ok["api-hook-2"] == 1
    assert max(ok.values()) == 1, ok  # nothing delivered twice, the earlier moments included
    # the 503 was retried: two POSTs of the first moment, one refused
    assert [s for k, s, _ in _Receiver.posts if k == "api-hook-1"] == [503, 200]
    body = next(b for k, s, b in _Receiver.posts if k == "api-hook-2")
    assert body["metadata"]["subscription_type"] == "stream.moment"
    assert body["payload"]["event"]["stream_id"] == "alpha"
