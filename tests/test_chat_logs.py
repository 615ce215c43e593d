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
from pipelines.sources.reading import ReplayLine, read_events

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
    assert bad == [(4, "ValueError: no commenter")]
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
    assert bad == [(5, "ValueError: no timestamp")]
    renamed, _ = parsed(CD, "chat-downloader", stream_id="Chess_Club")
    assert {e["stream_id"] for e in renamed} == {"chess_club"}


def test_irc_lines():
    events, bad = parsed(IRC, "irc")
    assert [brief(e) for e in events] == [
        # emotes=25:0-4,12-16/1902:6-10: by position, Kappa Keepo Kappa
        ("chat", "2026-11-20T18:00:00.000Z", "101", "ann", "Kappa Keepo Kappa",
         ["Kappa", "Keepo", "Kappa"], ["subscriber", "premium"]),
        # An empty emotes tag: none of Twitch's own emotes (Kappa is one), whatever the
        # text says.
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
        events = [e for e in chat_logs.events_of(read_log(path, detect_format(path)))]
        # What goes to Kafka is the event itself, routed by its type and stream.
        assert [json.loads(line.raw) for line in lines] == events
        for line in lines:
            event = json.loads(line.raw)
            assert (line.event_type, line.stream_id) == (event["event_type"], event["stream_id"])


def test_irc_tag_values_are_unescaped_by_the_ircv3_rules():
    # \: semicolon, \s space, \\ backslash, \r \n, \x is x, a lone trailing \ dropped.
    tags = chat_logs.irc_tags(r"a=x\:y\sz;b=back\\slash;c=cr\rlf\n;d=\q;e=end\;f=;g")
    assert tags == {"a": "x;y z", "b": "back\\slash", "c": "cr\rlf\n", "d": "q", "e": "end",
                    "f": "", "g": ""}  # fmt: skip


def test_third_party_emotes_are_found_beside_twitchs_own(tmp_path):
    """Twitch's emote data marks only Twitch's emotes; BetterTTV/7TV names (OMEGALUL,
    KEKW in conf/emotes.txt) are found as words. Twitch names the data leaves unmarked
    are not emotes there; without emote data every known name counts."""
    known = chat_logs.known_emotes()
    assert "Kappa" in known.all and "Kappa" not in known.third_party
    assert {"OMEGALUL", "KEKW"} <= known.third_party
    # IRC: the tag marks the Kappa at code points 9-13 only.
    line = ("@emotes=25:9-13;id=x1;tmi-sent-ts=1795197600000;user-id=1 "
            ":ann!ann@ann.tmi.twitch.tv PRIVMSG #c :OMEGALUL Kappa KEKW Kappa")  # fmt: skip
    [chat] = chat_logs.irc_events(line, None, known)
    assert chat["emotes"] == ["OMEGALUL", "Kappa", "KEKW"]
    no_tag = line.replace("@emotes=25:9-13;", "@")
    assert chat_logs.irc_events(no_tag, None, known)[0]["emotes"] == [
        "OMEGALUL", "Kappa", "KEKW", "Kappa"]  # fmt: skip
    # TwitchDownloader: fragments mark Kappa; without fragments, every known name.
    td = tmp_path / "vod.json"
    td.write_text(json.dumps({"streamer": {"name": "c"}, "comments": [
        {"_id": "1", "created_at": "2026-11-20T18:00:00Z", "commenter": {"_id": "1", "name": "a"},
         "message": {"body": "OMEGALUL Kappa Keepo",
                     "fragments": [{"text": "OMEGALUL ", "emoticon": None},
                                   {"text": "Kappa", "emoticon": {"emoticon_id": "25"}},
                                   {"text": " Keepo", "emoticon": None}]}},
        {"_id": "2", "created_at": "2026-11-20T18:00:01Z", "commenter": {"_id": "1", "name": "a"},
         "message": {"body": "OMEGALUL Kappa"}},
        # The old rechat spelling of the notice's id.
        {"_id": "3", "created_at": "2026-11-20T18:00:02Z", "commenter": {"_id": "1", "name": "a"},
         "message": {"body": "a subscribed at Tier 1.", "user_notice_params": {"msg-id": "sub"}}},
    ]}))  # fmt: skip
    events, bad = parsed(td, "twitchdownloader")
    assert bad == []
    assert [e.get("emotes") for e in events] == [["OMEGALUL", "Kappa"], ["OMEGALUL", "Kappa"],
                                                 None]  # fmt: skip
    assert events[2]["tx_type"] == "subscription"
    # chat-downloader: its emotes list marks Kappa; Keepo unmarked is no emote.
    cd = tmp_path / "c.json"
    item = {"timestamp": 1795197600000000, "message": "Kappa OMEGALUL Keepo",
            "author": {"id": "1", "name": "a"},
            "emotes": [{"name": "Kappa", "locations": ["0-4"]}]}  # fmt: skip
    cd.write_text(json.dumps([item]))
    events, _ = parsed(cd, "chat-downloader")
    assert events[0]["emotes"] == ["Kappa", "OMEGALUL"]


@pytest.mark.parametrize("parts", [("chat", "s", "m-1"), ("é😀", None, 3.5), ("a",), ()])
def test_event_ids_are_rfc_4122_name_based_uuids(parts):
    import uuid

    name = "\x1f".join(str(p) for p in parts)
    expected = uuid.uuid5(uuid.UUID("6f1c9a52-6c4e-4a8e-9b1e-7e2f3d5a8c11"), name)
    assert chat_logs.event_id(*parts) == str(expected)


def test_an_irc_log_read_in_parallel_chunks_is_the_log_read_line_by_line(tmp_path, monkeypatch):
    """Cut into chunks of ~300 bytes (a line or two each) and parsed by two worker
    processes, a log gives the same events, bad lines and line numbers as the plain
    line-by-line reader, with the stream replaced and the times shifted as asked."""
    from pipelines.sources import reading

    monkeypatch.setattr(reading, "CHUNK_BYTES", 300)
    lines = []
    for i in range(1, 41):
        if i == 7:
            lines.append(":tmi.twitch.tv CLEARCHAT #c :spammer")
        elif i == 23:
            lines.append("garbage without a command")
        elif i == 30:
            lines.append("")
        else:
            src = f"u{i}!u{i}@u{i}.tmi.twitch.tv"
            lines.append(f"@emotes=;id=m{i};tmi-sent-ts={1795197600000 + i};user-id={i} "
                         f":{src} PRIVMSG #c :msg {i} ünï OMEGALUL")  # fmt: skip
    path = tmp_path / "chan.log"
    path.write_bytes("\r\n".join(lines).encode() + b"\r\n")

    def rows(workers: int) -> list:
        got = reading.read_events(path, "irc", "other", offset_ms=1_000, workers=workers)
        return [(x.line_no, str(x)) if isinstance(x, reading.BadLine)
                else (x.line_no, x.event_type, x.stream_id, x.ts_ms, json.loads(x.raw))
                for x in got]  # fmt: skip

    serial, parallel = rows(1), rows(2)
    assert parallel == serial
    assert [r[0] for r in serial if len(r) == 2] == [7, 23]
    plain = [x.line_no if isinstance(x, BadLine) else x.position
             for x in read_log(path, "irc", "other")]  # fmt: skip
    assert plain == [r[0] for r in serial]
    events = [r for r in serial if len(r) > 2]
    assert len(events) == 37 and {r[2] for r in events} == {"other"}
    line_3 = events[2]
    assert line_3[0] == 3 and line_3[3] == 1795197600000 + 3 + 1_000
    assert line_3[4]["ts"] == "2026-11-20T18:00:01.003Z"
    assert line_3[4]["message"] == "msg 3 ünï OMEGALUL" and line_3[4]["emotes"] == ["OMEGALUL"]
