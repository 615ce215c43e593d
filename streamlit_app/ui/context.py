"""What every page needs: the cached query layer, the viewer's time zone, the refresh rate.

``app.py`` (the entry point) reads the settings once and stores a ``PageContext`` in the
session; pages fetch it with ``page_context()``. Query results go through
``st.cache_data``; the key carries a time bucket of ``refresh_seconds`` so that live data
is at most one refresh old, whatever the configured interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import available_timezones

import pandas as pd
import streamlit as st

from pipelines.serving.queries import GoldQueries

_CONTEXT_KEY = "_telemetra_context"
COMMON_TIMEZONES = [
    "UTC",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Sydney",
]
TIMEZONES = COMMON_TIMEZONES + sorted(available_timezones() - set(COMMON_TIMEZONES))
QUERY_METHODS = frozenset(
    {
        "list_streams",
        "newest_snapshot",
        "minute_metrics",
        "first_time_chatters",
        "top_emotes",
        "moments",
        "broadcast_summaries",
        "compare_broadcasts",
        "compare_streams",
    }
)


@st.cache_resource(show_spinner=False)
def get_queries(
    lake_root: str, panes: tuple[int, int] = (60, 10), storage: tuple = ()
) -> GoldQueries:
    """One query layer (one DuckDB connection) per lake, shared by every session;
    ``panes``: the pipeline's (window_seconds, slide_seconds); ``storage``: the lake's
    storage options (``Settings.storage_options``) as pairs, so they can be a cache key."""
    return GoldQueries(
        lake_root, dict(storage) or None, window_seconds=panes[0], slide_seconds=panes[1]
    )


# ttl only frees memory; freshness comes from the time bucket in the key.
@st.cache_data(ttl=600, max_entries=1024, show_spinner=False)
def _cached_query(
    lake_root: str,
    panes: tuple[int, int],
    storage: tuple,
    bucket: int,
    method: str,
    args: tuple,
    kwargs: tuple,
) -> pd.DataFrame:
    return getattr(get_queries(lake_root, panes, storage), method)(*args, **dict(kwargs))


class CachedQueries:
    """``GoldQueries``' methods, answered from ``st.cache_data`` for one refresh interval."""

    def __init__(
        self,
        lake_root: str,
        refresh_seconds: int,
        panes: tuple[int, int] = (60, 10),
        storage: tuple = (),
    ) -> None:
        self.lake_root = lake_root
        self.refresh_seconds = refresh_seconds
        self.panes = panes
        self.storage = storage

    def __getattr__(self, method: str) -> Callable[..., pd.DataFrame]:
        if method not in QUERY_METHODS:
            raise AttributeError(method)

        def call(*args, **kwargs) -> pd.DataFrame:
            bucket = int(time.time() // self.refresh_seconds)
            kwargs_key = tuple(sorted(kwargs.items()))
            return _cached_query(
                self.lake_root, self.panes, self.storage, bucket, method, args, kwargs_key
            )

        return call


@dataclass(frozen=True)
class PageContext:
    lake_root: str
    tz: str
    refresh_seconds: int
    currency: str = "USD"
    panes: tuple[int, int] = (60, 10)  # the pipeline's window_seconds, slide_seconds
    storage: tuple[tuple[str, str], ...] = ()  # Settings.storage_options, as pairs

    @property
    def data(self) -> CachedQueries:
        return CachedQueries(self.lake_root, self.refresh_seconds, self.panes, self.storage)


def set_page_context(ctx: PageContext) -> None:
    st.session_state[_CONTEXT_KEY] = ctx


def page_context() -> PageContext:
    return st.session_state[_CONTEXT_KEY]
