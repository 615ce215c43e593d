"""Event wire format helpers shared by the generator, the producer and replay.

Timestamps travel as ISO-8601 UTC strings with milliseconds and a ``Z``
(``2026-11-26T17:43:57.123Z``); inside Python they are epoch milliseconds (int), which
is what pacing and ordering need and is cheap to carry.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MS = timedelta(milliseconds=1)
# Compact separators: the bytes on the wire are what bronze stores.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode_event(event: dict) -> bytes:
    """The Kafka value of an event: compact UTF-8 JSON."""
    return _ENCODER.encode(event).encode("utf-8")


def encode_payload(fields: dict) -> str:
    """Compact JSON text of a dict (the generator splices it after a prebuilt envelope)."""
    return _ENCODER.encode(fields)


def format_ts(ms: int) -> str:
    """Epoch milliseconds -> ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    sec, milli = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{milli:03d}Z"


class TsFormatter:
    """``format_ts`` with the second-resolution prefix cached (events come in time order)."""

    __slots__ = ("_sec", "_prefix")

    def __init__(self) -> None:
        self._sec = -1
        self._prefix = ""

    def __call__(self, ms: int) -> str:
        sec, milli = divmod(ms, 1000)
        if sec != self._sec:
            self._sec = sec
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return f"{self._prefix}.{milli:03d}Z"


def parse_ts(value: str) -> int:
    """ISO-8601 (``Z`` or an offset; naive means UTC) -> epoch milliseconds.

    Raises ValueError when the string is not a timestamp.
    """
    if not isinstance(value, str):
        raise ValueError(f"timestamp must be a string, got {type(value).__name__}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"  # fromisoformat accepts Z only from Python 3.11
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return to_ms(dt)


def to_ms(dt: datetime) -> int:
    """A datetime (naive means UTC) -> epoch milliseconds (sub-millisecond part dropped)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return (dt - _EPOCH) // _ONE_MS


def from_ms(ms: int) -> datetime:
    """Epoch milliseconds -> aware UTC datetime."""
    return _EPOCH + timedelta(milliseconds=ms)
