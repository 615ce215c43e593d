"""The live Twitch source against a local IRC server (tests/irc_server.py) and the real
broker. Twitch cannot be reached from here: the server stands in for it.

1,500 chat lines go out as fast as the socket takes them, over three connections: the
first answers a PING, sends 600 lines and drops without a word; the second resends the
last 50 of them (a server replaying after a reconnect), goes on to line 1,100 and then
sends RECONNECT; the third resends 50 again and sends the rest. Every message must be in
Kafka exactly once.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from irc_server import FakeTwitch
from kafka_helpers import read_all, with_fresh_topics

from pipelines.sim.kafka_sink import Sink
from pipelines.sources.twitch_live import TwitchChat, server_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
N = 1500
T0_MS = 1_795_197_600_000  # 2026-11-20 18:00:00 UTC


def chat_line(i: int) -> str:
    user = f"user{i % 37}"
    # Tag values escaped as Twitch does (\s for spaces), unicode in the text.
    return (f"@badges=;display-name=User\\s{i % 37};emotes=;id=msg-{i};tmi-sent-ts={T0_MS + i};"
            f"user-id={1000 + i % 37} :{user}!{user}@{user}.tmi.twitch.tv PRIVMSG #chess_club "
            f":message {i} ünïcode ♟{' RECONNECT' if i == 700 else ''}")  # fmt: skip


def test_server_urls():
    assert server_of("ircs://irc.chat.twitch.tv:6697") == ("irc.chat.twitch.tv", 6697, True)
    assert server_of("irc://127.0.0.1:6667") == ("127.0.0.1", 6667, False)
    with pytest.raises(ValueError, match="irc://host:port or ircs://host:port"):
        server_of("http://example.com")


def test_every_message_once_across_a_drop_and_a_reconnect(kafka_broker, tmp_path):
    lines = [chat_line(i) for i in range(N)]
    # Then a PRIVMSG to no channel (unreadable as chat: skipped and counted, the source
    # goes on) and one without tmi-sent-ts (stamped when it arrived).
    lines += [
        "@id=bad;tmi-sent-ts=1 :gus!gus@gus.tmi.twitch.tv PRIVMSG justinfan1 :hi",
        "@id=no-ts;user-id=7 :hal!hal@hal.tmi.twitch.tv PRIVMSG #chess_club :no time",
    ]
    parts = [
        [("ping",), ("lines", 0, 600), ("drop",)],
        [("lines", 550, 1100), ("reconnect",)],
        [("lines", 1050, N + 2)],
    ]
    server = FakeTwitch(lines, parts)
    settings = with_fresh_topics(kafka_broker, tmp_path, "live", twitch_irc_url=server.url)
    try:
        with Sink(settings) as sink:
            chat = TwitchChat(settings, ["Chess_Club"], sink, min_backoff_s=1, max_backoff_s=2)
            runner = threading.Thread(target=chat.run, daemon=True)
            started = time.monotonic()
            runner.start()
            deadline = started + 120
            while chat.stats.sent < N + 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            took = time.monotonic() - started
            chat.stop()
            runner.join(30)
    finally:
        server.close()
    print(f"{chat.stats} in {took:.1f} s; skipped {dict(chat.stats.skipped)}")
    assert server.connections == 3 and chat.stats.connects == 3
    assert server.pongs >= 1
    assert any(r.startswith("CAP REQ :twitch.tv/tags twitch.tv/commands") for r in server.received)
    assert any(r == "JOIN #chess_club" for r in server.received)
    assert chat.stats.duplicates == 100  # the two resent stretches of 50
    assert chat.stats.skipped["unreadable line"] == 1

    got = read_all(settings, N + 1)
    events = [json.loads(v) for t, _, v in got]
    assert all(t == "chat" for t, _, _ in got)
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids)) == N + 1  # every message, each once
    stamped = next(e for e in events if e["message"] == "no time")
    assert stamped["ts"] > "2026-12-01"  # when it arrived, not a time of the script
    messages = {e["message"] for e in events if e is not stamped}
    # Line 700's text ends in " RECONNECT": chat, not the server's command.
    assert messages == {f"message {i} ünïcode ♟" + (" RECONNECT" if i == 700 else "")
                        for i in range(N)}  # fmt: skip
    first = next(e for e in events if e["message"].startswith("message 0 "))
    assert (first["stream_id"], first["user_id"], first["username"], first["ts"]) == (
        "chess_club", "1000", "user0", "2026-11-20T18:00:00.000Z",
    )  # fmt: skip
