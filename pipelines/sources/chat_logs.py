"""Chat logs people already have, as our events (``telemetra replay --format``).

:func:`read_log` turns a file into events (README "Event formats") in file order, each
with where it came from (a line or an item number), or a :class:`BadLine` saying why that
line or item was left out: nothing is dropped silently. :func:`detect_format` tells the
formats apart by their content. Per format:

- ``twitchdownloader``: TwitchDownloader's chat JSON (also the old Twitch "rechat"
  comment shape): ``streamer``, ``video`` {id, created_at, title, game, length},
  ``comments[]`` {_id, created_at, content_offset_seconds, commenter {_id, name},
  message {body, bits_spent, fragments[{text, emoticon}], user_badges[{_id}],
  user_notice_params {msg_id}}} (rechat's ``msg-id`` too). The video gives a ``live``
  stream_meta event at its start and an ``offline`` one at its end, so the broadcast and
  its VOD offsets match.
- ``chat-downloader``: chat-downloader's JSON (an array, or one object per line):
  ``timestamp`` (µs), ``message``, ``message_id``, ``message_type``, ``author`` {id,
  name, badges[{name}]}, ``emotes[{name, locations}]``, ``bits``, ``money`` {amount,
  currency}, ``number_of_raiders``; every field optional. No channel inside: the stream
  is ``--stream-id`` or the file's name.
- ``irc``: raw IRCv3 lines as justlog serves them (``@tags :login!login@host PRIVMSG
  #channel :text`` and ``USERNOTICE``), tags unescaped by ``irctokens``; an optional
  ``[timestamp] `` prefix some loggers add is accepted. Other commands (JOIN, CLEARCHAT,
  ROOMSTATE...) are skipped and counted.
- ``chatterino``: Chatterino's logs, ``# Start logging at YYYY-MM-DD HH:MM:SS TZ``, then
  ``[HH:MM:SS] login: text`` or ``[HH:MM:SS] <display> login: text``; the channel from
  the file name ``<channel>-YYYY-MM-DD.log``, the date from the header or else the file
  name (then in UTC); a time earlier than the one before by over 12 h is the next day.
  Sub, gift and raid system lines become events; other system lines are reported. No
  user ids in these logs: the login stands in.

Money: bits are 1 US cent each; a subscription or gift sub is priced by its plan (the
simulator's prices, ``pipelines.sim.event_vocab``), a Prime sub as tier 1. A raid becomes
a chat event with ``raid_viewers`` (silver keeps chat's fields; bronze keeps it all).
Emotes come from the format's own emote data where it has one (IRC ``emotes`` ranges,
TwitchDownloader fragments, chat-downloader ``emotes``) plus the third-party names of
``conf/emotes.txt`` (BTTV/FFZ/7TV: OMEGALUL, KEKW...) found as words of the rest of the
text, since Twitch marks only its own emotes; where a log has no emote data, every known
name found as a word.

Event ids are UUIDs derived from the source's message id (or, without one, from the
channel, time, position and text), so importing the same file twice adds nothing.
"""

from __future__ import annotations

import gc
import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import irctokens
import msgspec

from pipelines.config import CONF_DIR
from pipelines.sim.event_codec import TsFormatter, parse_ts
from pipelines.sim.event_vocab import GIFT_SUB_PRICE, SUB_TIERS

FORMATS = ("jsonl", "twitchdownloader", "chat-downloader", "irc", "chatterino")
# What a BadLine's number counts, per format: the JSON documents hold lists, not lines.
POSITION_UNITS = {"twitchdownloader": "comment", "chat-downloader": "item"}
_NAMESPACE = uuid.UUID("6f1c9a52-6c4e-4a8e-9b1e-7e2f3d5a8c11")  # Telemetra's imports
_NAMESPACE_BYTES = _NAMESPACE.bytes
format_ts = TsFormatter()  # events come in time order: the second's text is cached
_SUB_PRICE = {tier: price for tier, price, _ in SUB_TIERS}
_HEAD_BYTES = 1 << 16


class FormatError(ValueError):
    """A file in no known format, or one that cannot be read as the format given."""


class BadLine(ValueError):
    """A line (or item) left out; the message says why."""

    def __init__(self, position: int, reason: str) -> None:
        super().__init__(reason)
        self.line_no = position


@dataclass(slots=True)
class SourceEvent:
    position: int  # line number (text formats) or item number (JSON arrays)
    event: dict
    ts_ms: int  # the event's ts, as epoch milliseconds


Parsed = SourceEvent | BadLine


# ---- format detection --------------------------------------------------------------------
_CHATTERINO_LINE = re.compile(r"^\[\d{1,2}:\d{2}:\d{2}\] ")
_IRC_LINE = re.compile(r"^(\[[^\]]*\] )?(@\S+ )?:\S+ (PRIVMSG|USERNOTICE|CLEARCHAT|JOIN|PART) ")


def detect_format(path: str | Path) -> str:
    """The format of ``path`` from its first 64 KiB; FormatError when it is none of them."""
    with open(path, "rb") as handle:
        head = handle.read(_HEAD_BYTES).decode("utf-8", errors="replace")
    text = head.lstrip("\ufeff \t\r\n")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise FormatError(f"{path} is empty: nothing to replay")
    first = lines[0]
    if first.startswith("# Start logging at") or _CHATTERINO_LINE.match(first):
        return "chatterino"
    if _IRC_LINE.match(first):
        return "irc"
    if text.startswith("["):
        return "chat-downloader"
    if text.startswith("{"):
        try:
            obj = json.loads(first)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            if "event_type" in obj:
                return "jsonl"
            if "message" in obj or "timestamp" in obj or "author" in obj:
                return "chat-downloader"
        if '"comments"' in head or '"content_offset_seconds"' in head:
            return "twitchdownloader"
        if '"event_type"' in first:  # one of ours, longer than the head
            return "jsonl"
    if Path(path).suffix.lower() in (".jsonl", ".ndjson"):
        return "jsonl"  # our format; its bad lines are reported one by one
    raise FormatError(
        f"{path} is in no known format (first line: {first[:80]!r}); the formats are "
        f"{', '.join(FORMATS)}: give --format if the file is one of them"
    )


def read_log(
    path: str | Path, fmt: str, stream_id: str | None = None, emotes: KnownEmotes | None = None
) -> Iterator[Parsed]:
    """The events of a chat log of format ``fmt`` (not ``jsonl``: ``pipelines.sources.replay``
    reads our own format), in file order; ``stream_id`` overrides the channel."""
    readers = {
        "twitchdownloader": _twitchdownloader,
        "chat-downloader": _chat_downloader,
        "irc": _irc,
        "chatterino": _chatterino,
    }
    if fmt not in readers:
        raise FormatError(f"unknown format {fmt!r}; the chat log formats are {', '.join(readers)}")
    known = known_emotes() if emotes is None else emotes
    return readers[fmt](Path(path), stream_id, known)


@dataclass(frozen=True)
class KnownEmotes:
    """Emote names to find as words: ``all`` where a log has no emote data, the
    ``third_party`` ones (BTTV/FFZ/7TV) beside Twitch's own emote data, which marks only
    Twitch's emotes."""

    all: frozenset
    third_party: frozenset


def known_emotes(path: Path = CONF_DIR / "emotes.txt") -> KnownEmotes:
    """The names of ``conf/emotes.txt``: one per line, ``#`` comments; the names under
    its ``# Twitch`` heading are Twitch's, the ones under any other heading third-party."""
    names, third_party, section = set(), set(), ""
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("#"):
            section = line[1:].strip()
        elif line:
            names.add(line)
            if section != "Twitch":
                third_party.add(line)
    return KnownEmotes(frozenset(names), frozenset(third_party))


def words_that_are_emotes(text: str, known: frozenset) -> list[str]:
    """Every word of ``text`` that is a known emote name, once per occurrence."""
    return [w for w in text.split() if w in known]


# ---- events ----------------------------------------------------------------------------------
def event_id(*parts: object) -> str:
    """A stable UUID for a source message: the same parts always give the same id.
    ``uuid.uuid5(_NAMESPACE, name)`` spelled out (SHA-1 of the namespace and the name,
    version 5, RFC 4122 variant), at a third of its cost: this runs once per message."""
    name = "\x1f".join(map(str, parts)).encode("utf-8")
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def envelope(kind: str, stream_id: str, ts_ms: int, key: tuple, **payload) -> dict:
    return {"event_id": event_id(kind, stream_id, *key), "event_type": kind,
            "stream_id": stream_id, "ts": format_ts(ts_ms), "schema_version": 1,
            **payload}  # fmt: skip


def chat_event(stream_id, ts_ms, key, user_id, username, message, emotes, badges, **extra):
    return envelope("chat", stream_id, ts_ms, key, user_id=user_id, username=username,
                    message=message, emotes=emotes, badges=badges, **extra)  # fmt: skip


def bits_event(stream_id, ts_ms, key, user_id, bits: int) -> dict:
    return envelope("transaction", stream_id, ts_ms, ("bits", *key), user_id=user_id,
                    tx_type="bits", amount=round(bits / 100, 2), currency="USD")  # fmt: skip


def sub_event(stream_id, ts_ms, key, user_id, kind: str, plan: str | None, count: int = 1):
    """A subscription (``kind`` sub/resub) or gift subs (subgift/submysterygift)."""
    tier = plan if plan in _SUB_PRICE else "1000"  # Prime and unknown plans: tier 1
    if kind in ("subgift", "submysterygift", "gift"):
        return envelope("transaction", stream_id, ts_ms, ("gift", *key), user_id=user_id,
                        tx_type="gift_sub", amount=round(count * GIFT_SUB_PRICE, 2),
                        currency="USD", tier=tier, gift_count=count)  # fmt: skip
    return envelope("transaction", stream_id, ts_ms, ("sub", *key), user_id=user_id,
                    tx_type="subscription", amount=_SUB_PRICE[tier], currency="USD",
                    tier=tier)  # fmt: skip


SUB_NOTICES = ("sub", "resub")
GIFT_NOTICES = ("subgift", "submysterygift")


# ---- TwitchDownloader -------------------------------------------------------------------------
def _twitchdownloader(path: Path, stream_id: str | None, known: KnownEmotes) -> Iterator[Parsed]:
    doc = _load_json(path, path.read_bytes())
    if not isinstance(doc, dict) or not isinstance(doc.get("comments"), list):
        raise FormatError(f"{path} has no comments list: not a TwitchDownloader chat file")
    streamer, video = doc.get("streamer") or {}, doc.get("video") or {}
    channel = stream_id or streamer.get("name") or video.get("user_name")
    if not channel:
        raise FormatError(f"{path} names no channel (streamer.name): give --stream-id")
    sid = str(channel).lower()
    vid = video.get("id") or video.get("_id") or path.stem
    start_ms = _maybe_ts(video.get("created_at"))
    if start_ms is not None:
        meta = {"title": video.get("title"), "category": _game(video.get("game")),
                "language": video.get("language")}  # fmt: skip
        live = envelope("stream_meta", sid, start_ms, (vid, "live"), status="live",
                        started_at=format_ts(start_ms), **meta)  # fmt: skip
        yield SourceEvent(0, live, start_ms)
    last_ms = start_ms
    for i, comment in enumerate(doc["comments"], start=1):
        try:
            ts_ms, events = _td_comment(comment, sid, start_ms, known)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            yield BadLine(i, f"{type(exc).__name__}: {exc}")
            continue
        last_ms = max(last_ms or 0, ts_ms)
        for event in events:
            yield SourceEvent(i, event, ts_ms)
    length = _seconds(video.get("length"))
    end_ms = start_ms + int(length * 1000) if start_ms is not None and length else last_ms
    if start_ms is not None and end_ms is not None:
        end_ms = max(end_ms, last_ms)
        yield SourceEvent(len(doc["comments"]) + 1,
                          envelope("stream_meta", sid, end_ms, (vid, "offline"), status="offline"),
                          end_ms)  # fmt: skip


def _td_comment(
    c: dict, sid: str, start_ms: int | None, known: KnownEmotes
) -> tuple[int, list[dict]]:
    msg = c.get("message") or {}
    ts_ms = _maybe_ts(c.get("created_at"))
    if ts_ms is None:
        if start_ms is None or c.get("content_offset_seconds") is None:
            raise ValueError("neither created_at nor the video start and an offset")
        ts_ms = start_ms + int(float(c["content_offset_seconds"]) * 1000)
    who = c.get("commenter") or {}
    user_id = str(who.get("_id") or who.get("name") or "")
    if not user_id:
        raise ValueError("no commenter")
    username = str(who.get("name") or who.get("display_name") or user_id).lower()
    fragments = msg.get("fragments") or []
    body = msg.get("body")
    if body is None:
        body = "".join(str(f.get("text", "")) for f in fragments)
    emotes = []
    for f in fragments or [{"text": body}]:
        text = str(f.get("text", ""))
        if f.get("emoticon"):
            emotes.append(text.strip())
        else:
            emotes += words_that_are_emotes(text, known.third_party if fragments else known.all)
    badges = [str(b.get("_id")) for b in msg.get("user_badges") or [] if b.get("_id")]
    key = (c.get("_id") or f"{ts_ms}:{user_id}:{body}",)
    params = msg.get("user_notice_params") or {}
    notice = params.get("msg_id") or params.get("msg-id")  # TwitchDownloader's, rechat's
    events = []
    if notice in SUB_NOTICES or notice in GIFT_NOTICES:
        plan = _plan_from_text(body)
        events.append(sub_event(sid, ts_ms, key, user_id, notice, plan, _gift_count(body)))
    else:
        events.append(chat_event(sid, ts_ms, key, user_id, username, body, emotes, badges))
    bits = int(msg.get("bits_spent") or 0)
    if bits > 0:
        events.append(bits_event(sid, ts_ms, key, user_id, bits))
    return ts_ms, events


_TIER = re.compile(r"Tier (\d)")
_GIFTS = re.compile(r"gifting (\d+)")


def _plan_from_text(text: str) -> str | None:
    found = _TIER.search(text or "")
    return f"{found.group(1)}000" if found else None


def _gift_count(text: str) -> int:
    found = _GIFTS.search(text or "")
    return int(found.group(1)) if found else 1


def _game(game: object) -> str | None:
    if isinstance(game, dict):
        return game.get("displayName") or game.get("name")
    return game if isinstance(game, str) else None


def _seconds(value: object) -> float | None:
    """A length in seconds, or Twitch's ``1h2m3s``; None when absent or unreadable."""
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", value.strip())
        if parts and any(parts.groups()):
            h, m, s = (int(x or 0) for x in parts.groups())
            return float(h * 3600 + m * 60 + s)
    return None


def _maybe_ts(value: object) -> int | None:
    try:
        return parse_ts(value) if value else None
    except ValueError:
        return None


# ---- chat-downloader --------------------------------------------------------------------------
def _chat_downloader(path: Path, stream_id: str | None, known: KnownEmotes) -> Iterator[Parsed]:
    sid = (stream_id or path.stem).lower()
    for position, item in _json_items(path):
        if isinstance(item, BadLine):
            yield item
            continue
        try:
            ts_ms, events = _cd_item(item, sid, known)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            yield BadLine(position, f"{type(exc).__name__}: {exc}")
            continue
        if not events:
            kind = item.get("message_type") if isinstance(item, dict) else None
            yield BadLine(position, f"nothing to import ({kind or 'no text'})")
        for event in events:
            yield SourceEvent(position, event, ts_ms)


def _load_json(path: Path, raw: bytes) -> object:
    """A whole JSON file, parsed with Python's cyclic garbage collector paused: a chat
    file is millions of small containers, and collections while they are made cost twice
    the parse itself (200k TwitchDownloader comments: 2.9 s with it, 0.9 s without)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return msgspec.json.decode(raw)
    except ValueError as exc:
        raise FormatError(f"{path} is not valid JSON ({exc})") from None
    finally:
        if paused:
            gc.enable()


def _json_items(path: Path) -> Iterator[tuple[int, object]]:
    """(position, item) of a JSON array, or of a file with one JSON object per line."""
    raw = path.read_bytes()
    if raw.lstrip().startswith(b"["):
        items = _load_json(path, raw)
        yield from enumerate(items, start=1)
        return
    for line_no, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield line_no, msgspec.json.decode(line)
        except ValueError as exc:
            yield line_no, BadLine(line_no, f"not valid JSON ({exc})")


def _cd_item(m: dict, sid: str, known: KnownEmotes) -> tuple[int, list[dict]]:
    if not isinstance(m, dict):
        raise TypeError(f"a message is an object, got {type(m).__name__}")
    if m.get("timestamp") is None:
        raise ValueError("no timestamp")
    ts_ms = int(m["timestamp"]) // 1000  # microseconds
    author = m.get("author") or {}
    user_id = str(author.get("id") or author.get("name") or "")
    username = str(author.get("name") or author.get("display_name") or user_id).lower()
    text = m.get("message") or ""
    kind = m.get("message_type") or "text_message"
    key = (m.get("message_id") or f"{ts_ms}:{user_id}:{text}",)
    badges = [str(b.get("name") or b.get("title")) for b in author.get("badges") or []
              if isinstance(b, dict)]  # fmt: skip
    emotes, names = [], known.all
    if isinstance(m.get("emotes"), list):
        found = [(str(e.get("name")), len(e.get("locations") or [None])) for e in m["emotes"]]
        emotes = [name for name, times in found for _ in range(times)]
        names = known.third_party - set(emotes)
    emotes += words_that_are_emotes(text, names)
    events = []
    if kind == "raid":
        viewers = int(m.get("number_of_raiders") or m.get("viewer_count") or 0)
        events.append(chat_event(sid, ts_ms, key, user_id, username, text or "raid", [], badges,
                                 raid_viewers=viewers))  # fmt: skip
    elif kind in ("subscription", "resubscription"):
        events.append(sub_event(sid, ts_ms, key, user_id, "sub", _cd_plan(m)))
    elif kind in ("subscription_gift", "mystery_subscription_gift"):
        count = int(m.get("number_of_gifts") or m.get("gift_count") or 1)
        events.append(sub_event(sid, ts_ms, key, user_id, "subgift", _cd_plan(m), count))
    if text and kind not in ("raid",):
        if not user_id:
            raise ValueError("a message without an author")
        events.insert(0, chat_event(sid, ts_ms, key, user_id, username, text, emotes, badges))
    money = m.get("money") if isinstance(m.get("money"), dict) else None
    if m.get("bits"):
        events.append(bits_event(sid, ts_ms, key, user_id, int(m["bits"])))
    elif money and money.get("amount"):
        events.append(envelope("transaction", sid, ts_ms, ("money", *key), user_id=user_id,
                               tx_type="donation", amount=float(money["amount"]),
                               currency=str(money.get("currency") or "USD").upper()))  # fmt: skip
    return ts_ms, events


def _cd_plan(m: dict) -> str | None:
    plan = m.get("subscription_type") or m.get("sub_plan") or m.get("tier")
    return str(plan) if plan else None


# ---- IRC (justlog) ----------------------------------------------------------------------------
_IRC_PREFIX = re.compile(r"^\[[^\]]*\] ")
_SKIPPED_COMMANDS = {"JOIN", "PART", "CLEARCHAT", "CLEARMSG", "ROOMSTATE", "USERSTATE",
                     "GLOBALUSERSTATE", "NOTICE", "HOSTTARGET", "PING", "PONG", "CAP",
                     "WHISPER", "RECONNECT"}  # fmt: skip


def _irc(path: Path, stream_id: str | None, known: KnownEmotes) -> Iterator[Parsed]:
    with open(path, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            found = irc_line(raw, stream_id, known)
            if found is None:
                continue
            if isinstance(found, str):
                yield BadLine(line_no, found)
                continue
            ts_ms, events = found
            for event in events:
                yield SourceEvent(line_no, event, ts_ms)


def irc_line(
    raw: bytes, stream_id: str | None, known: KnownEmotes
) -> tuple[int, list[dict]] | str | None:
    """One line of an IRC log, as read from the file: (its time, its events), why it holds
    none, or None for a blank line. The line reader and the chunk reader
    (``pipelines.sources.reading``) both go through here."""
    text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
    if not text.strip():
        return None
    try:
        events = irc_events(text, stream_id, known)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if isinstance(events, str):
        return events
    return parse_ts(events[0]["ts"]), events


_TAG_ESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_TAG_ESCAPE = re.compile(r"\\(.?)", re.DOTALL)


def irc_tags(raw: str) -> dict[str, str]:
    """IRCv3 message tags (``key=value;...`` without the ``@``), values unescaped: ``\\:``
    is ``;``, ``\\s`` a space, ``\\\\`` a backslash, ``\\r``/``\\n`` CR/LF, any other
    escaped character itself, a lone trailing backslash dropped. (irctokens does the same
    one character at a time, which costs more than the rest of a line.)"""
    tags = {}
    for part in raw.split(";"):
        key, _, value = part.partition("=")
        if "\\" in value:
            value = _TAG_ESCAPE.sub(lambda m: _TAG_ESCAPES.get(m.group(1), m.group(1)), value)
        tags[key] = value
    return tags


def irc_events(
    text: str, stream_id: str | None, known: KnownEmotes, now_ms: int | None = None
) -> list[dict] | str:
    """One IRC line as events, or a string saying why it holds none (a JOIN, say). Also
    the live source's parser (``tmi-sent-ts`` is when Twitch sent it; without it the
    line's time is ``now_ms``, and without that it is an error). The tags are split off
    here (:func:`irc_tags`); ``irctokens`` parses the rest of the line."""
    if text.startswith("["):
        text = _IRC_PREFIX.sub("", text, count=1)
    tags: dict[str, str] = {}
    if text.startswith("@"):
        raw_tags, _, text = text.partition(" ")
        tags = irc_tags(raw_tags[1:])
    line = irctokens.tokenise(text)
    if line.command in _SKIPPED_COMMANDS or line.command.isdigit():
        return f"{line.command}: not chat"
    if line.command not in ("PRIVMSG", "USERNOTICE"):
        return f"unknown command {line.command!r}"
    if not line.params or not line.params[0].startswith("#"):
        raise ValueError(f"{line.command} without a #channel")
    sid = (stream_id or line.params[0][1:]).lower()
    if "tmi-sent-ts" not in tags and now_ms is None:
        raise ValueError("no tmi-sent-ts tag: the time is unknown")
    ts_ms = int(tags["tmi-sent-ts"]) if "tmi-sent-ts" in tags else now_ms
    login = tags.get("login") or (line.hostmask.nickname if line.source else None) or ""
    user_id = tags.get("user-id") or login
    body = line.params[1] if len(line.params) > 1 else ""
    if body.startswith("\x01ACTION ") and body.endswith("\x01"):
        body = body[8:-1]  # /me
    key = (tags.get("id") or f"{ts_ms}:{user_id}:{body}",)
    if "emotes" in tags:
        emotes = _emotes(body, tags["emotes"], known.third_party)
    else:
        emotes = words_that_are_emotes(body, known.all)
    badges = [b.split("/")[0] for b in (tags.get("badges") or "").split(",") if b]
    events = []
    if line.command == "USERNOTICE":
        notice = tags.get("msg-id", "")
        plan = tags.get("msg-param-sub-plan")
        if notice in SUB_NOTICES:
            events.append(sub_event(sid, ts_ms, key, user_id, notice, plan))
        elif notice == "subgift":
            events.append(sub_event(sid, ts_ms, key, user_id, notice, plan))
        elif notice == "submysterygift":
            count = int(tags.get("msg-param-mass-gift-count") or 1)
            events.append(sub_event(sid, ts_ms, key, user_id, notice, plan, count))
        elif notice == "raid":
            viewers = int(tags.get("msg-param-viewerCount") or 0)
            system = tags.get("system-msg") or f"{viewers} raiders from {login} have joined!"
            events.append(chat_event(sid, ts_ms, ("raid", *key), user_id, login, system, [],
                                     badges, raid_viewers=viewers))  # fmt: skip
        if not body:
            return events or f"USERNOTICE {notice or '(no msg-id)'}: nothing to import"
    events.insert(0, chat_event(sid, ts_ms, key, user_id, login, body, emotes, badges))
    if tags.get("bits"):
        events.append(bits_event(sid, ts_ms, key, user_id, int(tags["bits"])))
    return events


_WORD = re.compile(r"\S+")


def _emotes(body: str, spec: str, known: frozenset) -> list[str]:
    """The emotes of an IRC message in order of position: those of the ``emotes`` tag
    (``25:0-4,12-16/1902:6-10``: emote id, code-point ranges), and the ``known`` names
    among the other words."""
    if not spec:
        return words_that_are_emotes(body, known)
    found = {}
    for part in spec.split("/"):
        if not part:
            continue
        _, _, ranges = part.partition(":")
        for r in ranges.split(","):
            start, _, end = r.partition("-")
            found[int(start)] = body[int(start) : int(end) + 1]
    for word in _WORD.finditer(body):
        if word.start() not in found and word.group() in known:
            found[word.start()] = word.group()
    return [found[at] for at in sorted(found)]


# ---- Chatterino -------------------------------------------------------------------------------
_HEADER = re.compile(r"^# Start logging at (\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?: (\S+))?")
_LINE = re.compile(r"^\[(\d{1,2}):(\d{2}):(\d{2})\] (?:<([^>]*)> )?([^\s:]+): (.*)$")
_SYSTEM = re.compile(r"^\[(\d{1,2}):(\d{2}):(\d{2})\] (.*)$")
_FILE_NAME = re.compile(r"^(?P<channel>.+)-(?P<date>\d{4}-\d{2}-\d{2})$")
_SUBSCRIBED = re.compile(r"^(\w+) subscribed (?:at Tier (\d)|with Prime)")
_GIFTED = re.compile(r"^(\w+) (?:gifted a Tier (\d) sub to|is gifting (\d+) Tier (\d) Subs)")
_RAIDERS = re.compile(r"^(\d+) raiders from (\w+) have joined")


def _chatterino(path: Path, stream_id: str | None, known: KnownEmotes) -> Iterator[Parsed]:
    named = _FILE_NAME.match(path.stem)
    sid = (stream_id or (named.group("channel") if named else path.stem)).lower()
    day = datetime.fromisoformat(named.group("date")).date() if named else None
    tz = timezone.utc
    last = None
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line_no, raw in enumerate(handle, start=1):
            text = raw.rstrip("\r\n")
            if not text.strip():
                continue
            header = _HEADER.match(text)
            if header:
                day = datetime.fromisoformat(header.group(1)).date()
                tz = _zone(header.group(3))
                last = None
                continue
            if text.startswith("#"):
                continue  # "# Stop logging at ..."
            if day is None:
                yield BadLine(line_no, "no date (no header, and the file name is not "
                                       "<channel>-YYYY-MM-DD.log)")  # fmt: skip
                return
            parsed = _LINE.match(text) or _SYSTEM.match(text)
            if not parsed:
                yield BadLine(line_no, "not [HH:MM:SS] name: text")
                continue
            h, m, s = (int(x) for x in parsed.groups()[:3])
            at = datetime.combine(day, datetime.min.time(), tz) + timedelta(hours=h, minutes=m,
                                                                         seconds=s)  # fmt: skip
            if last is not None and at < last - timedelta(hours=12):
                day += timedelta(days=1)  # past midnight
                at += timedelta(days=1)
            last = at
            ts_ms = int(at.timestamp() * 1000)
            if parsed.re is _LINE:
                login, body = parsed.group(5), parsed.group(6)
                key = (day.isoformat(), line_no, body)
                user = login.lower()
                emotes = words_that_are_emotes(body, known.all)
                yield SourceEvent(
                    line_no, chat_event(sid, ts_ms, key, user, user, body, emotes, []), ts_ms
                )
                continue
            event = _chatterino_system(parsed.group(4), sid, ts_ms, (day.isoformat(), line_no))
            yield event if isinstance(event, BadLine) else SourceEvent(line_no, event, ts_ms)


def _chatterino_system(text: str, sid: str, ts_ms: int, key: tuple) -> dict | BadLine:
    if sub := _SUBSCRIBED.match(text):
        plan = f"{sub.group(2)}000" if sub.group(2) else None
        return sub_event(sid, ts_ms, key, sub.group(1).lower(), "sub", plan)
    if gift := _GIFTED.match(text):
        tier = gift.group(2) or gift.group(4)
        count = int(gift.group(3) or 1)
        return sub_event(sid, ts_ms, key, gift.group(1).lower(), "subgift", f"{tier}000", count)
    if raid := _RAIDERS.match(text):
        login = raid.group(2).lower()
        return chat_event(sid, ts_ms, key, login, login, text, [], [],
                          raid_viewers=int(raid.group(1)))  # fmt: skip
    return BadLine(key[1], f"a system line, not chat ({text[:60]!r})")


def _zone(name: str | None):
    """The header's time zone (none: UTC, as the file name's date is taken)."""
    if not name or name.upper() in ("UTC", "GMT", "Z"):
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise FormatError(f"unknown time zone {name!r} in the log's header") from None


def events_of(parsed: Iterable[Parsed]) -> list[dict]:
    """The events of parsed output, bad lines left out (tests and tools)."""
    return [p.event for p in parsed if isinstance(p, SourceEvent)]
