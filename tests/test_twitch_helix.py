"""Helix polling (pipelines/sources/twitch_helix.py) against a local HTTP server that
answers as Twitch's token and Get Streams endpoints do (Twitch cannot be reached from
here), with the real ``requests`` client; then through the live source into Kafka."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from irc_server import FakeTwitch
from kafka_helpers import read_all, with_fresh_topics

from pipelines.sim.kafka_sink import Sink
from pipelines.sources.twitch_helix import Helix, StreamPoller
from pipelines.sources.twitch_live import TwitchChat

LIVE = {"user_login": "Chess_Club", "viewer_count": 1234, "title": "Blitz ♟", "type": "live",
        "game_name": "Chess", "language": "en", "started_at": "2026-11-20T18:00:00Z"}  # fmt: skip


class FakeHelix:
    """Tokens tok1, tok2, ...; the first Get Streams with tok1 is refused (401, an expired
    token); ``streams`` is what Get Streams answers."""

    def __init__(self) -> None:
        self.tokens = 0
        self.streams: list[dict] = [LIVE]
        self.requests: list[tuple[str, dict, dict]] = []  # (path, query, headers)
        helix = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                ok = form.get("client_secret") == ["secret"]
                helix.tokens += ok
                self._json(200 if ok else 400, {"access_token": f"tok{helix.tokens}",
                                                "expires_in": 3600} if ok else {})  # fmt: skip

            def do_GET(self) -> None:
                url = urlparse(self.path)
                helix.requests.append((url.path, parse_qs(url.query), dict(self.headers)))
                if self.headers.get("Authorization") == "Bearer tok1":
                    self._json(401, {"error": "Unauthorized"})
                    return
                self._json(200, {"data": helix.streams})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{self.server.server_port}"
        self.api_url, self.auth_url = f"{base}/helix", f"{base}/oauth2/token"

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def helix():
    server = FakeHelix()
    yield server
    server.close()


def test_polls_become_viewer_live_and_offline_events(helix):
    poller = StreamPoller(Helix("cid", "secret", helix.api_url, helix.auth_url),
                          ["chess_club", "other"])  # fmt: skip
    first = poller.poll(now_ms=1_795_197_630_000)
    # The first token was refused: a second one was fetched and the call repeated.
    assert helix.tokens == 2
    path, query, headers = helix.requests[-1]
    assert path == "/helix/streams" and query["user_login"] == ["chess_club", "other"]
    assert headers["Client-Id"] == "cid" and headers["Authorization"] == "Bearer tok2"
    assert [(e["event_type"], e["stream_id"], e["ts"]) for e in first] == [
        ("viewer", "chess_club", "2026-11-20T18:00:30.000Z"),
        ("stream_meta", "chess_club", "2026-11-20T18:00:30.000Z"),
    ]
    assert first[0]["viewer_count"] == 1234
    meta = first[1]
    fields = ("status", "title", "category", "language", "started_at")
    assert [meta[f] for f in fields] == ["live", "Blitz ♟", "Chess", "en", "2026-11-20T18:00:00Z"]
    helix.streams = []  # the stream ended
    second = poller.poll(now_ms=1_795_197_660_000)
    assert [(e["event_type"], e["stream_id"], e.get("status")) for e in second] == [
        ("stream_meta", "chess_club", "offline")
    ]
    assert poller.poll(now_ms=1_795_197_690_000) == []  # offline once


def test_an_unreachable_helix_costs_a_poll_not_the_source():
    poller = StreamPoller(Helix("cid", "secret", "http://127.0.0.1:9/helix",
                                "http://127.0.0.1:9/oauth2/token"), ["chess_club"])  # fmt: skip
    assert poller.poll() == []


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_the_live_source_publishes_helix_events(kafka_broker, tmp_path, helix):
    irc = FakeTwitch([], [[]])
    settings = with_fresh_topics(kafka_broker, tmp_path, "helix", twitch_irc_url=irc.url,
                                 twitch_client_id="cid", twitch_client_secret="secret",
                                 twitch_helix_url=helix.api_url, twitch_auth_url=helix.auth_url,
                                 twitch_poll_seconds=5)  # fmt: skip
    try:
        with Sink(settings) as sink:
            chat = TwitchChat(settings, ["chess_club"], sink)
            runner = threading.Thread(target=chat.run, daemon=True)
            runner.start()
            deadline = time.monotonic() + 30
            while chat.stats.sent < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            chat.stop()
            runner.join(30)
    finally:
        irc.close()
    got = read_all(settings, 2)
    kinds = sorted(t for t, _, _ in got)
    assert kinds == ["stream_meta", "viewer"]
    viewer = next(json.loads(v) for t, _, v in got if t == "viewer")
    assert (viewer["stream_id"], viewer["viewer_count"]) == ("chess_club", 1234)
