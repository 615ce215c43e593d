"""Event wire format helpers shared by the generator, the producer and replay.

Timestamps travel as ISO-8601 UTC strings with milliseconds and a ``Z``
(``2026-11-26T17:43:57.123Z``); inside Python they are epoch milliseconds (int), which
is what pacing and ordering need and is cheap to carry.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import msgspec

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MS = timedelta(milliseconds=1)
# Compact separators: the bytes on the wire are what bronze stores.
_FAST_ENCODER = msgspec.json.Encoder()


def encode_event(event: dict) -> bytes:
    """The Kafka value of an event: compact UTF-8 JSON, by msgspec (several times the
    standard library's speed, the same text but for float exponents: ``1e16``)."""
    return _FAST_ENCODER.encode(event)


def encode_payload(fields: dict) -> bytes:
    """Compact UTF-8 JSON of a dict, by the same encoder as :func:`encode_event` (the
    generator splices it after a prebuilt envelope)."""
    return _FAST_ENCODER.encode(fields)


def format_ts(ms: int) -> str:
    """Epoch milliseconds -> ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    sec, milli = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{milli:03d}Z"


class TsFormatter:
    """``format_ts`` with the second-resolution prefix cached (events come in time order).
    The cache is one tuple, so threads sharing a formatter never see a torn pair."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last = (-1, "")

    def __call__(self, ms: int) -> str:
        sec, milli = divmod(ms, 1000)
        last = self._last
        if sec != last[0]:
            last = self._last = (sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)))
        return f"{last[1]}.{milli:03d}Z"


def parse_ts(value: str) -> int:
    """ISO-8601 (``Z`` or an offset; naive means UTC) -> epoch milliseconds.

    Raises ValueError when the string is not a timestamp. Our own form
    (``format_ts``'s) is read with the seconds of the one before cached, as events come
    in time order.
    """
    if (isinstance(value, str) and len(value) == 24 and value[19] == "." and value[23] == "Z"
            and value[20:23].isascii() and value[20:23].isdigit()):  # fmt: skip
        last = _last_second
        if last[0] != value[:19]:
            last = _remember_second(value[:19])
        return last[1] + int(value[20:23])
    if not isinstance(value, str):
        raise ValueError(f"timestamp must be a string, got {type(value).__name__}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"  # fromisoformat accepts Z only from Python 3.11
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return to_ms(dt)


_last_second = ("", 0)  # (YYYY-MM-DDTHH:MM:SS, its epoch ms); one tuple, so thread-safe


def _remember_second(text: str) -> tuple[str, int]:
    global _last_second
    _last_second = (text, to_ms(datetime.fromisoformat(text).replace(tzinfo=timezone.utc)))
    return _last_second


def to_ms(dt: datetime) -> int:
    """A datetime (naive means UTC) -> epoch milliseconds (sub-millisecond part dropped)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return (dt - _EPOCH) // _ONE_MS


def from_ms(ms: int) -> datetime:
    """Epoch milliseconds -> aware UTC datetime."""
    return _EPOCH + timedelta(milliseconds=ms)
