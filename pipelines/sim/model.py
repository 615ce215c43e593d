"""The simulator's shared records: a Kafka record to send, an injected moment (the ground
truth a detector should find), and the three sentiment polarities."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pipelines.sim.event_codec import format_ts, from_ms

POS, NEG, NEU = 0, 1, 2


@dataclass(slots=True)
class Record:
    """One Kafka record to send: the topic's event type, key, value bytes, due time."""

    topic_type: str  # chat | viewer | transaction | stream_meta
    key: str  # stream_id
    value: bytes
    ts_ms: int  # event time at which the record is due, epoch ms
    kind: str  # "good", "duplicate" or one of BAD_KINDS

    @property
    def event_ts(self) -> datetime:
        return from_ms(self.ts_ms)


@dataclass
class Moment:
    """An injected moment: the ground truth a detector should find."""

    stream_id: str
    kind: str
    start_ms: int
    end_ms: int
    factor: float = 1.0  # chat_spike: peak rate multiplier; raid: viewer jump fraction
    chat_extra: float = 0.0  # raid: extra chat from raiders, as a fraction of the rate
    emote: str = ""  # chat_spike: the hype emote chat reacts with
    lag_s: int = 0  # chat_spike: seconds before chat reacts
    polarity: int = NEU  # sentiment_swing: POS or NEG
    raider: str = ""
    total_usd: float = 0.0  # revenue_burst
    txs: list = field(default_factory=list, repr=False)  # revenue_burst, latest first

    def to_row(self) -> dict:
        return {
            "stream_id": self.stream_id,
            "kind": self.kind,
            "start": format_ts(self.start_ms),
            "end": format_ts(self.end_ms),
        }
