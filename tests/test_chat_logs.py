"""Chat logs in other tools' formats -> our events (pipelines/sources/chat_logs.py).

The files in tests/fixtures/chat_logs are written by hand from each format's shape
(escaping, unicode, missing fields, bits, subs, raids, lines that are not chat); every
expected value below is read off those files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.sources import chat_logs
from pipelines.sources.chat_logs import BadLine, SourceEvent, detect_format, read_log
from pipelines.sources.replay import ReplayLine, read_events

LOGS = Path(__file__).parent / "fixtures" / "chat_logs"
TD, CD, IRC = LOGS / "twitchdownloader.json", LOGS / "chat_downloader.json", LOGS / "irc.log"
CHATTERINO = LOGS / "chess_club-2026-11-20.log"


def parsed(path: Path, fmt: str, stream_id: str | None = None):
    items = list(read_log(path, fmt, stream_id))
    events = [i.event for i in items if isinstance(i, SourceEvent)]
    bad = [(b.line_no, str(b)) for b in items if isinstance(b, BadLine)]
    return events, bad


def brief(e: dict) -> tuple:
    """What matters of an event, by type."""
    if e["event_type"] == "chat":
        extra = (e["raid_viewers"],) if "raid_viewers" in e else ()
        return ("chat", e["ts"], e["user_id"], e["username"], e["message"], e["emotes"],
                e["badges"], *extra)  # fmt: skip
    if e["event_type"] == "transaction":
        return ("tx", e["ts"], e["user_id"], e["tx_type"], e["amount"], e["currency"],
                e.get("tier"), e.get("gift_count"))  # fmt: skip
    return ("meta", e["ts"], e["status"], e.get("title"), e.get("category"), e.get("started_at"))


@pytest.mark.parametrize(
    ("path", "fmt"),
    [(TD, "twitchdownloader"), (CD, "chat-downloader"), (IRC, "irc"), (CHATTERINO, "chatterino")],
)
def test_the_format_is_told_from_the_content(path, fmt):
    assert detect_format(path) == fmt


def test_our_own_jsonl_and_an_unknown_file(tmp_path):
    ours = tmp_path / "events.jsonl"
    ours.write_text(json.dumps({"event_type": "chat", "stream_id": "s", "ts": "x"}) + "\n")
    assert detect_format(ours) == "jsonl"
    csv = tmp_path / "chat.csv"
    csv.write_text("time,user,message\n1,ann,hi\n")
    with pytest.raises(chat_logs.FormatError, match="no known format.*time,user,message"):
        detect_format(csv)


def test_twitchdownloader(tmp_path):
    events, bad = parsed(TD, "twitchdownloader")
    assert [brief(e) for e in events] == [
        ("meta", "2026-11-20T18:00:00.000Z", "live", "Blitz night ♟", "Chess",
         "2026-11-20T18:00:00.000Z"),
        ("chat", "2026-11-20T18:00:05.250Z", "101", "ann", "hi Kappa", ["Kappa"],
         ["subscriber"]),
        # Bits: 100 = 1.00 USD; no emote fragment, so none (Cheer100 is no emote name).
        ("chat", "2026-11-20T18:00:09.000Z", "102", "bob", "Cheer100 nice move 日本語 🎉", [], []),
        ("tx", "2026-11-20T18:00:09.000Z", "102", "bits", 1.0, "USD", None, None),
        # No created_at: the video start + 30.5 s; a Tier 2 resub at 9.99.
        ("tx", "2026-11-20T18:00:30.500Z", "103", "subscription", 9.99, "USD", "2000", None),
        ("chat", "2026-11-20T18:01:10.000Z", "101", "ann", "PogChamp PogChamp",
         ["PogChamp", "PogChamp"], []),
        ("meta", "2026-11-20T19:00:00.000Z", "offline", None, None, None),  # start + length
    ]  # fmt: skip
    assert {e["stream_id"] for e in events} == {"chess_club"}
    assert bad == [(4, "comment 4: ValueError: no commenter")]
    # Importing twice gives the same ids: silver's dedupe adds nothing the second time.
    again, _ = parsed(TD, "twitchdownloader")
    assert [e["event_id"] for e in again] == [e["event_id"] for e in events]
    assert len({e["event_id"] for e in events}) == len(events)


def test_chat_downloader():
    events, bad = parsed(CD, "chat-downloader")
    assert [brief(e) for e in events] == [
        ("chat", "2026-11-20T18:00:00.000Z", "201", "dan", "hello there LUL", ["LUL"],
         ["moderator"]),
        ("chat", "2026-11-20T18:00:01.000Z", "202", "eve", "bits!", [], []),
        ("tx", "2026-11-20T18:00:01.000Z", "202", "bits", 5.0, "USD", None, None),
        # No id, no message_type, no emotes: the author's name stands in; Kappa from the list.
        ("chat", "2026-11-20T18:00:02.500Z", "Fay", "fay", "no id here Kappa 💜", ["Kappa"], []),
        ("tx", "2026-11-20T18:00:03.000Z", "204", "subscription", 9.99, "USD", "2000", None),
        ("chat", "2026-11-20T18:00:05.000Z", "206", "hal", "raid", [], [], 321),
    ]  # fmt: skip
    # No channel in the file: the stream is the file's name, or --stream-id.
    assert {e["stream_id"] for e in events} == {"chat_downloader"}
    assert bad == [(5, "item 5: ValueError: no timestamp")]
    renamed, _ = parsed(CD, "chat-downloader", stream_id="Chess_Club")
    assert {e["stream_id"] for e in renamed} == {"chess_club"}


def test_irc_lines():
    events, bad = parsed(IRC, "irc")
    assert [brief(e) for e in events] == [
        # emotes=25:0-4,12-16/1902:6-10: by position, Kappa Keepo Kappa
        ("chat", "2026-11-20T18:00:00.000Z", "101", "ann", "Kappa Keepo Kappa",
         ["Kappa", "Keepo", "Kappa"], ["subscriber", "premium"]),
        # An empty emotes tag: Twitch found none, whatever the text says.
        ("chat", "2026-11-20T18:00:01.000Z", "102", "bob", "cheer250 résumé ünïcödé 🎉 Kappa",
         [], []),
        ("tx", "2026-11-20T18:00:01.000Z", "102", "bits", 2.5, "USD", None, None),
        # A resub with a message: the trailing parameter is not tag-escaped.
        ("chat", "2026-11-20T18:00:02.000Z", "103", "cat", "still here\\s: a; b", [], []),
        ("tx", "2026-11-20T18:00:02.000Z", "103", "subscription", 9.99, "USD", "2000", None),
        ("tx", "2026-11-20T18:00:03.000Z", "104", "gift_sub", 24.95, "USD", "1000", 5),
        # system-msg unescaped: \s space, \: semicolon, \\ backslash.
        ("chat", "2026-11-20T18:00:04.000Z", "105", "raider",
         "1234 raiders from Raider have joined; \\o/", [], [], 1234),
        ("chat", "2026-11-20T18:00:09.000Z", "109", "hal", "waves", [], []),  # /me
    ]  # fmt: skip
    assert {e["stream_id"] for e in events} == {"chess_club"}
    assert [n for n, _ in bad] == [6, 7, 8]
    assert "CLEARCHAT: not chat" in bad[0][1]
    assert "no tmi-sent-ts" in bad[1][1]
    assert "unknown command" in bad[2][1]


def test_chatterino():
    events, bad = parsed(CHATTERINO, "chatterino")
    assert [brief(e) for e in events] == [
        ("chat", "2026-11-20T23:59:55.000Z", "ann", "ann", "hello Kappa", ["Kappa"], []),
        ("chat", "2026-11-20T23:59:58.000Z", "bob", "bob", "ünïcode ♟ PogChamp", ["PogChamp"],
         []),
        # Past midnight: the next day.
        ("tx", "2026-11-21T00:00:03.000Z", "cat", "subscription", 4.99, "USD", "1000", None),
        ("chat", "2026-11-21T00:00:05.000Z", "dan", "dan", "after midnight: still chat", [],
         []),
    ]  # fmt: skip
    assert {e["stream_id"] for e in events} == {"chess_club"}
    assert [n for n, _ in bad] == [6, 7]
    assert "a system line" in bad[0][1] and "not [HH:MM:SS] name: text" in bad[1][1]


def test_replay_reads_every_format_as_routable_lines():
    for path in (TD, CD, IRC, CHATTERINO):
        lines = [x for x in read_events(path) if isinstance(x, ReplayLine)]
        assert lines, path
        for line in lines:
            # What goes to Kafka is the event itself, routed by its type and stream.
            assert json.loads(line.raw) == line.event
            assert line.event_type == line.event["event_type"]
            assert line.stream_id == line.event["stream_id"]


def test_irc_tag_values_are_unescaped_by_the_ircv3_rules():
    # \: semicolon, \s space, \\ backslash, \r \n, \x is x, a lone trailing \ dropped.
    tags = chat_logs.irc_tags(r"a=x\:y\sz;b=back\\slash;c=cr\rlf\n;d=\q;e=end\;f=;g")
    assert tags == {"a": "x;y z", "b": "back\\slash", "c": "cr\rlf\n", "d": "q", "e": "end",
                    "f": "", "g": ""}  # fmt: skip
