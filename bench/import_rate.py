"""Chat import rates: messages/s of each log format into Kafka (issue 25's target: 50,000/s),
and of the live source from a local IRC server (target: keeps up with 500/s).

The producer's generator makes ``--count`` chat messages (one busy channel, its real
text, emotes and badges); they are written as a file of each format
(``pipelines/sources/chat_logs.py``); then, per format, ``replay(..., max_speed=True)``
sends the file into four fresh topics (prefix ``bench<random>.events``, deleted
afterwards). Reading alone (parse and map, no Kafka) is timed too. The live source
(``pipelines/sources/twitch_live.py``) then takes the same messages as IRC lines from
the tests' local IRC server (``tests/irc_server.py``) as fast as it sends them.

Starts no broker: it expects one at ``KAFKA_BOOTSTRAP_SERVERS`` (default 127.0.0.1:9092),
e.g. after ``telemetra kafka start``.

    .venv/bin/python bench/import_rate.py [--count 200000]

Prints JSON and writes it to ``--out`` (default bench/results/import_rate.json).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from kafka.admin import KafkaAdminClient
from results_io import write_result

from pipelines.config import PROJECT_ROOT, load_settings
from pipelines.jobs import kafka_ready
from pipelines.ops import kafka_local
from pipelines.sim.events import generate
from pipelines.sources.chat_logs import FORMATS, known_emotes
from pipelines.sources.reading import read_events
from pipelines.sources.replay import replay

START = datetime(2026, 11, 20, 18, tzinfo=timezone.utc)
CHANNEL = "bench_import"


def chat_messages(count: int) -> list[dict]:
    """``count`` chat payloads of one busy generated channel (with ts in epoch ms)."""
    out = []
    gen = generate([CHANNEL], 200.0, START, None, seed=5)
    for rec in gen:
        if rec.topic_type == "chat" and rec.kind == "good":
            out.append({**json.loads(rec.value), "ts_ms": rec.ts_ms})
            if len(out) == count:
                return out
    return out


def _iso(ms: int) -> str:
    """TwitchDownloader's timestamps: ``2026-11-20T18:00:05.250Z``."""
    at = datetime.fromtimestamp(ms / 1000, timezone.utc)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fragments(text: str, emotes: set) -> list[dict]:
    """Twitch's fragments: the body cut into runs of plain text (spaces included) and
    emotes, each emote a fragment of its own; their texts joined are the body."""
    out, run = [], ""
    for i, word in enumerate(text.split(" ")):
        sep = " " if i else ""
        if word in emotes:
            if run + sep:
                out.append({"text": run + sep, "emoticon": None})
            run = ""
            out.append({"text": word, "emoticon": {"emoticon_id": word, "emoticon_set_id": ""}})
        else:
            run += sep + word
    if run:
        out.append({"text": run, "emoticon": None})
    return out


TWITCH_EMOTES = known_emotes().all - known_emotes().third_party


def irc_line(m: dict) -> str:
    """A chat message as Twitch's IRC sends it: tags (the ``emotes`` tag marks Twitch's own
    emotes by code-point range, as Twitch does; BTTV/7TV names stay plain words), source,
    PRIVMSG."""
    badges = ",".join(f"{b}/1" for b in m["badges"])
    user = m["username"]
    ranges: dict[str, list[str]] = {}
    at = 0
    for word in m["message"].split(" "):
        if word in TWITCH_EMOTES:
            ranges.setdefault(word, []).append(f"{at}-{at + len(word) - 1}")
        at += len(word) + 1
    emotes = "/".join(f"{name}:{','.join(r)}" for name, r in ranges.items())
    sub = "1" if "subscriber" in m["badges"] else "0"
    mod = "1" if "moderator" in m["badges"] else "0"
    # Every tag Twitch sends on a PRIVMSG, in its order.
    return (f"@badge-info=;badges={badges};client-nonce={m['event_id'][:32]};color=#1E90FF;"
            f"display-name={user};emotes={emotes};first-msg=0;flags=;id={m['event_id']};"
            f"mod={mod};returning-chatter=0;room-id=11111;subscriber={sub};"
            f"tmi-sent-ts={m['ts_ms']};turbo=0;user-id={m['user_id']};user-type= "
            f":{user}!{user}@{user}.tmi.twitch.tv PRIVMSG #{CHANNEL} :{m['message']}")  # fmt: skip


def write_formats(msgs: list[dict], folder: Path) -> dict[str, Path]:
    start_ms = msgs[0]["ts_ms"]
    files = {}
    comments = []
    for m in msgs:
        # As TwitchDownloader writes a comment: every field of Twitch's comment object,
        # the text in fragments that alternate runs of text and single emotes.
        comments.append({
            "_id": m["event_id"], "created_at": _iso(m["ts_ms"]), "updated_at": _iso(m["ts_ms"]),
            "channel_id": "1", "content_type": "video", "content_id": "1",
            "content_offset_seconds": (m["ts_ms"] - start_ms) / 1000,
            "commenter": {"display_name": m["username"], "_id": m["user_id"],
                          "name": m["username"], "type": "user", "bio": None,
                          "created_at": "2020-01-01T00:00:00Z", "updated_at": _iso(m["ts_ms"]),
                          "logo": "https://static-cdn.jtvnw.net/user-default-pictures/300x300.png"},
            "source": "chat", "state": "published",
            "message": {"body": m["message"], "bits_spent": 0,
                        "fragments": _fragments(m["message"], set(m["emotes"])),
                        "is_action": False,
                        "user_badges": [{"_id": b, "version": "1"} for b in m["badges"]],
                        "user_color": "#1E90FF", "user_notice_params": {"msg_id": None},
                        "emoticons": []},
            "more_replies": False,
        })  # fmt: skip
    td = {"streamer": {"name": CHANNEL, "id": 1},
          "video": {"id": "1", "created_at": _iso(start_ms), "title": "bench",
                    "length": (msgs[-1]["ts_ms"] - start_ms) // 1000 + 1},
          "comments": comments}  # fmt: skip
    files["twitchdownloader"] = folder / "vod.json"
    files["twitchdownloader"].write_text(json.dumps(td))
    cd = [{"message_id": m["event_id"], "message": m["message"], "timestamp": m["ts_ms"] * 1000,
           "message_type": "text_message",
           "author": {"id": m["user_id"], "name": m["username"],
                      "badges": [{"name": b} for b in m["badges"]]}}
          for m in msgs]  # fmt: skip
    files["chat-downloader"] = folder / f"{CHANNEL}.json"
    files["chat-downloader"].write_text(json.dumps(cd))
    irc = folder / "irc.log"
    irc.write_text("".join(irc_line(m) + "\n" for m in msgs), encoding="utf-8")
    files["irc"] = irc
    day = datetime.fromtimestamp(start_ms / 1000, timezone.utc)
    chatterino = folder / f"{CHANNEL}-{day:%Y-%m-%d}.log"
    with chatterino.open("w", encoding="utf-8") as out:
        out.write(f"# Start logging at {day:%Y-%m-%d %H:%M:%S} UTC\n")
        for m in msgs:
            at = datetime.fromtimestamp(m["ts_ms"] / 1000, timezone.utc)
            out.write(f"[{at:%H:%M:%S}] {m['username']}: {m['message']}\n")
    files["chatterino"] = chatterino
    ours = folder / "events.jsonl"  # our own event format (README, "Event formats")
    ours.write_text("".join(json.dumps({k: v for k, v in m.items() if k != "ts_ms"},
                                       ensure_ascii=False) + "\n" for m in msgs),
                    encoding="utf-8")  # fmt: skip
    files["jsonl"] = ours
    return files


def one_format(settings, fmt: str, path: Path) -> dict:
    started = time.perf_counter()
    parsed = sum(1 for _ in read_events(path, fmt))
    read_s = time.perf_counter() - started
    bench = settings.model_copy(
        update={"kafka_topic_prefix": f"bench{uuid.uuid4().hex[:8]}.events"}
    )
    kafka_local.ensure_topics(bench)
    try:
        stats = replay(bench, path, max_speed=True, fmt=fmt)
    finally:
        admin = KafkaAdminClient(bootstrap_servers=bench.kafka_bootstrap_servers)
        try:
            admin.delete_topics(bench.topics)
        finally:
            admin.close()
    return {
        "format": fmt,
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "events": stats.sent,
        "skipped": len(stats.skipped),
        "read_only_events_per_s": round(parsed / read_s),
        "into_kafka_s": round(stats.elapsed_s, 2),
        "into_kafka_events_per_s": round(stats.sent / stats.elapsed_s),
    }


def live_rate(settings, msgs: list[dict]) -> dict:
    """The live source on a local IRC server that sends every line at once."""
    import sys
    import threading

    sys.path.insert(0, str(PROJECT_ROOT / "tests"))
    from irc_server import FakeTwitch

    from pipelines.sim.kafka_sink import Sink
    from pipelines.sources.twitch_live import TwitchChat

    lines = [irc_line(m) for m in msgs]
    server = FakeTwitch(lines, [[("lines", 0, len(lines))]])
    bench = settings.model_copy(update={
        "kafka_topic_prefix": f"bench{uuid.uuid4().hex[:8]}.events", "twitch_irc_url": server.url,
        "twitch_client_id": "", "twitch_client_secret": ""})  # fmt: skip
    kafka_local.ensure_topics(bench)
    try:
        with Sink(bench) as sink:
            chat = TwitchChat(bench, [CHANNEL], sink)
            runner = threading.Thread(target=chat.run, daemon=True)
            started = time.perf_counter()
            runner.start()
            while chat.stats.sent < len(lines) and time.perf_counter() - started < 600:
                time.sleep(0.05)
            took = time.perf_counter() - started
            chat.stop()
            runner.join(30)
    finally:
        server.close()
        admin = KafkaAdminClient(bootstrap_servers=bench.kafka_bootstrap_servers)
        try:
            admin.delete_topics(bench.topics)
        finally:
            admin.close()
    return {"messages": len(lines), "sent": chat.stats.sent, "seconds": round(took, 2),
            "messages_per_s": round(chat.stats.sent / took)}  # fmt: skip


def main() -> dict:
    args = _args()
    settings = load_settings()
    kafka_ready.wait_until_ready(settings, at_most_s=30)
    msgs = chat_messages(args.count)
    with tempfile.TemporaryDirectory(prefix="telemetra-import-") as tmp:
        files = write_formats(msgs, Path(tmp))
        result = {
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in os.getloadavg()],
            "messages": len(msgs),
            "span_s": round((msgs[-1]["ts_ms"] - msgs[0]["ts_ms"]) / 1000),
            "formats": [one_format(settings, f, files[f]) for f in FORMATS if f in files],
            "live_source": live_rate(settings, msgs),
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        }
    return write_result(result, args.out)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000, help="chat messages")
    parser.add_argument("--out", default=str(PROJECT_ROOT / "bench/results/import_rate.json"))
    return parser.parse_args()


if __name__ == "__main__":
    main()
