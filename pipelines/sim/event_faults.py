"""Bad input the generator mixes in: each kind is a record silver must quarantine.

Every maker takes a freshly generated good event (a dict, not yet sent) and returns the
topic type it goes to and the raw bytes. The kinds:

- ``broken_json``: the JSON text cut short, so it does not parse.
- ``missing_field``: an envelope or required payload field removed.
- ``wrong_type``: a field of the wrong JSON type (``viewer_count: "lots"``,
  ``amount: "a lot"``, ``emotes: "Kappa"``).
- ``negative_viewers``: a viewer event with ``viewer_count < 0``.
- ``future_ts``: ``ts`` days ahead of the event time.
- ``oversized``: a chat message longer than 64 KiB.
- ``unknown_type``: an ``event_type`` Telemetra does not know, on the original topic.
"""

from __future__ import annotations

import random

from pipelines.core.contract import REQUIRED_FIELDS
from pipelines.sim.event_codec import encode_event, format_ts

BAD_KINDS = (
    "broken_json",
    "missing_field",
    "wrong_type",
    "negative_viewers",
    "future_ts",
    "oversized",
    "unknown_type",
)
UNKNOWN_TYPES = ("poll", "hype_train", "prediction", "raid_alert")
OVERSIZE_BYTES = 64 * 1024
_ENVELOPE_REQUIRED = ("event_id", "stream_id", "ts")
# A long unit keeps the emote list short: encoding a 3,000-entry list costs more than 64 KiB.
_COPYPASTA = (
    "I am once again asking chat to please stop spamming the same message over and over "
    "because the mods are asleep and the streamer cannot read anything Kappa "
)
_WRONG_TYPES = {
    "viewer": ("viewer_count", "lots"),
    "transaction": ("amount", "a lot"),
    "chat": ("emotes", "Kappa"),
}


def make_bad(event: dict, kind: str, rng: random.Random, ts_ms: int) -> tuple[str, bytes]:
    """Turn a good event into bad input of ``kind``; returns (topic type, raw bytes)."""
    maker = _MAKERS[kind]
    return maker(dict(event), rng, ts_ms)


def _broken_json(event: dict, rng: random.Random, ts_ms: int) -> tuple[str, bytes]:
    raw = encode_event(event)
    # Any strict prefix of a JSON object is invalid: the closing brace is its last byte.
    cut = len(raw) // 3 + int(rng.random() * (len(raw) // 2))
    return event["event_type"], raw[:cut]


def _missing_field(event: dict, rng: random.Random, ts_ms: int) -> tuple[str, bytes]:
    fields = _ENVELOPE_REQUIRED + REQUIRED_FIELDS[event["event_type"]]
    del event[fields[int(rng.random() * len(fields))]]
    return event["event_type"], encode_event(event)


def _wrong_type(event: dict, rng: random.Random, ts_ms: int) -> tuple[str, bytes]:
    field, value = _WRONG_TYPES[event["event_type"]]
    event[field] = value
    return event["event_type"], encode_event(event)


def _negative_viewers(event: dict, rng: random.Random, ts_ms: int) -> tuple[str, bytes]:
    envelope = {k: event[k] for k in ("event_id", "stream_id", "ts", "schema_version")}
    bad = {**envelope, "event_type": "viewer", "viewer_count": -1 - int(rng.random() * 5000)}
    return "viewer", encode_event(bad)


def _future_ts(event: dict, rng: random.Random, ts_ms: int) -> tuple[str, bytes]:
    days = 2 + int(rng.random() * 28)
    event["ts"] = format_ts(ts_ms + days * 86_400_000)
    return event["event_type"], encode_event(event)


def _oversized(event: dict, rng: random.Random, ts_ms: int) -> tuple[str, bytes]:
    envelope = {k: event[k] for k in ("event_id", "stream_id", "ts", "schema_version")}
    unit = _COPYPASTA
    repeat = (OVERSIZE_BYTES + int(rng.random() * 16_384)) // len(unit) + 1
    bad = {
        **envelope,
        "event_type": "chat",
        "user_id": str(10_000_000 + int(rng.random() * 89_999_999)),
        "username": "copypasta_bot",
        "message": unit * repeat,
        "emotes": ["Kappa"] * repeat,
        "badges": [],
    }
    return "chat", encode_event(bad)


def _unknown_type(event: dict, rng: random.Random, ts_ms: int) -> tuple[str, bytes]:
    topic_type = event["event_type"]
    event["event_type"] = UNKNOWN_TYPES[int(rng.random() * len(UNKNOWN_TYPES))]
    return topic_type, encode_event(event)


_MAKERS = {
    "broken_json": _broken_json,
    "missing_field": _missing_field,
    "wrong_type": _wrong_type,
    "negative_viewers": _negative_viewers,
    "future_ts": _future_ts,
    "oversized": _oversized,
    "unknown_type": _unknown_type,
}
