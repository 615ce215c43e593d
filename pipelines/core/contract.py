"""Names every layer agrees on, with no engine behind them: the event types (one Kafka
topic each), the payload fields each must carry, and the kinds of moment. The producer
imports these too, so nothing here may import pyspark."""

from __future__ import annotations

EVENT_TYPES = ("chat", "viewer", "transaction", "stream_meta")
# Payload fields that must be present (not null) per type; optional ones are absent here.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "chat": ("user_id", "username", "message", "emotes"),
    "viewer": ("viewer_count",),
    "transaction": ("user_id", "tx_type", "amount", "currency"),
    "stream_meta": ("status",),
}
MOMENT_KINDS = ("chat_spike", "raid", "revenue_burst", "sentiment_swing")
