"""Names every layer agrees on, with no engine behind them: the event types (one Kafka
topic each) and the kinds of moment."""

from __future__ import annotations

EVENT_TYPES = ("chat", "viewer", "transaction", "stream_meta")
