"""Settings turned into the plain values the transforms take (transforms read no config)."""

from __future__ import annotations

from pipelines.config import EVENT_TYPES, Settings
from pipelines.transforms.gold_moments import MomentRules
from pipelines.transforms.silver import SilverParams

_MOMENT_SETTING_FIELDS = (
    "baseline_seconds min_baseline_windows chat_z chat_min_count viewer_jump_ratio "
    "viewer_min_jump revenue_z revenue_min sentiment_z sentiment_min_messages "
    "sentiment_std_floor merge_gap_seconds chat_window_seconds chat_min_seconds "
    "fresh_gap_seconds reaction_lag_seconds"
).split()


def silver_params(settings: Settings) -> SilverParams:
    return SilverParams(
        topic_types={settings.topic(t): t for t in EVENT_TYPES},
        max_message_bytes=settings.max_message_bytes,
        max_future_seconds=settings.max_future_seconds,
        min_event_date=settings.min_event_date,
        watermark_seconds=settings.watermark_seconds,
        window_seconds=settings.window_seconds,
        slide_seconds=settings.slide_seconds,
        top_emotes=settings.top_emotes,
        base_currency=settings.base_currency,
    )


def moment_rules(settings: Settings) -> MomentRules:
    """The ``moment_*`` settings and the window geometry."""
    return MomentRules(
        **{f: getattr(settings, f"moment_{f}") for f in _MOMENT_SETTING_FIELDS},
        window_seconds=settings.window_seconds,
        slide_seconds=settings.slide_seconds,
        top_emotes=settings.top_emotes,
    )
