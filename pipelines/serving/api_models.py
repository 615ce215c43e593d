"""What the API (``pipelines.serving.api``) answers: response models and /live's envelope.

List responses take Twitch Helix's shape, ``{"data": [...], "pagination": {"cursor": ...}}``;
WebSocket messages take EventSub's, ``{"metadata": {...}, "payload": {...}}``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Pagination(BaseModel):
    cursor: str | None = Field(
        None, description="Pass as `after` for the next page; absent on the last."
    )


class Page(BaseModel, Generic[T]):
    data: list[T]
    pagination: Pagination = Pagination()


class Stream(BaseModel):
    stream_id: str
    status: str | None = Field(None, description="live or offline; null until settled")
    is_live: bool
    title: str | None = None
    category: str | None = None
    language: str | None = None
    started_at: datetime | None = None
    last_event_ts: datetime | None = Field(None, description="newest event seen (panes too)")


class MetricPoint(BaseModel):
    window_start: datetime
    window_end: datetime
    avg_viewers: float | None = None
    max_viewers: int | None = None
    chat_count: int | None = None
    unique_chatters: int | None = Field(None, description="10s and 1m only")
    max_chat_count: int | None = Field(None, description="1h only: the busiest minute")
    sentiment_mean: float | None = None
    positive_count: int | None = None
    negative_count: int | None = None
    tx_count: int | None = None
    revenue: float | None = None
    settled: bool = Field(description="false: combined from the hot path's panes, seconds old")


class EmoteCount(BaseModel):
    emote: str
    count: int


class Moment(BaseModel):
    moment_id: str
    stream_id: str
    kind: str = Field(description="chat_spike, raid, revenue_burst or sentiment_swing")
    start_ts: datetime
    end_ts: datetime
    peak_ts: datetime | None = None
    peak_value: float | None = None
    score: float | None = None
    duration_seconds: float | None = None
    top_emotes: list[EmoteCount] | None = None
    sample_messages: list[str] | None = None
    broadcast_id: str | None = None
    broadcast_started_at: datetime | None = None


class Broadcast(BaseModel):
    stream_id: str
    broadcast_id: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    is_live: bool
    title: str | None = None
    category: str | None = None
    peak_viewers: int | None = None
    avg_viewers: float | None = None
    messages: int | None = None
    unique_chatters: int | None = None
    messages_per_chatter: float | None = None
    first_time_chatters: int | None = None
    returning_chatters: int | None = None
    revenue: float | None = None
    top_emotes: list[EmoteCount] | None = None
    moment_count: int | None = None
    duration_minutes: float | None = None


class Health(BaseModel):
    ok: bool
    lake: str = Field(description="ok, or why the lake cannot be read")
    broker: str = Field(description="ok, or why the broker does not answer")
    newest_event_age_seconds: float | None = Field(None, description="null: no event yet")
    webhooks: dict[str, int | str | None] | None = None


class Problem(BaseModel):
    detail: str


# ---- /live/{stream_id}: EventSub-style messages -------------------------------------------
MessageType = Literal["session_welcome", "session_keepalive", "notification"]
SubscriptionType = Literal["stream.metrics", "stream.moment"]


def envelope(message_type: MessageType, payload: dict,
             subscription_type: SubscriptionType | None = None) -> dict:  # fmt: skip
    """One /live message: ``metadata`` (a fresh id, the type, now in UTC) and ``payload``."""
    metadata = {
        "message_id": str(uuid.uuid4()),
        "message_type": message_type,
        "message_timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
    }
    if subscription_type is not None:
        metadata["subscription_type"] = subscription_type
    return {"metadata": metadata, "payload": payload}
