"""Moments: every detected moment across streams, filtered, explained, exportable."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st
from ui import charts
from ui.context import PageContext, page_context
from ui.widgets import as_list, emotes_text, empty_state, moment_detail


def _day_bounds(days: tuple[date, ...], tz: str) -> tuple[datetime | None, datetime | None]:
    """The chosen days (in the viewer's zone) as a UTC-aware [start, end) range."""
    if len(days) != 2:
        return None, None
    zone = ZoneInfo(tz)
    start = datetime.combine(days[0], time.min, tzinfo=zone)
    return start, datetime.combine(days[1] + timedelta(days=1), time.min, tzinfo=zone)


def filters(ctx: PageContext, every: pd.DataFrame) -> dict:
    streams, kinds, score, days = st.columns([2, 2, 1, 2])
    chosen_streams = streams.multiselect(
        "Streams", sorted(every["stream_id"].unique()), placeholder="All streams", key="m_streams"
    )
    chosen_kinds = kinds.multiselect(
        "Kinds", list(charts.KIND_LABELS), format_func=charts.KIND_LABELS.get,
        placeholder="All kinds", key="m_kinds",
    )  # fmt: skip
    top = float(every["score"].max())
    min_score = score.slider("Min score", 0.0, max(top, 1.0), 0.0, step=0.1, key="m_score")
    local = every["start_ts"].dt.tz_convert(ctx.tz)
    first, last = local.min().date(), local.max().date()
    chosen_days = days.date_input(
        f"Days ({ctx.tz})", (first, last), min_value=first, max_value=last, key="m_days"
    )
    start, end = _day_bounds(tuple(chosen_days), ctx.tz)
    return {
        "stream_ids": tuple(chosen_streams) or None,
        "kinds": tuple(chosen_kinds) or None,
        "min_score": min_score,
        "start": start,
        "end": end,
    }


def export_frame(moments: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Flat columns for CSV: times in the viewer's zone, lists as text."""
    out = charts.localized(moments, ["start_ts", "end_ts", "peak_ts"], tz)
    out["top_emotes"] = out["top_emotes"].map(emotes_text)
    out["sample_messages"] = out["sample_messages"].map(lambda m: " | ".join(as_list(m)))
    return out


def moments_table(ctx: PageContext, moments: pd.DataFrame) -> pd.Series:
    """The filtered moments; returns the selected row (the newest when none is)."""
    shown = export_frame(moments, ctx.tz)
    shown["kind"] = shown["kind"].map(charts.KIND_LABELS).fillna(shown["kind"])
    event = st.dataframe(
        shown,
        column_order=["stream_id", "kind", "start_ts", "duration_seconds", "score",
                      "peak_value", "baseline_mean", "top_emotes", "title"],
        column_config={
            "stream_id": "Stream", "kind": "Kind", "title": "Title",
            "start_ts": st.column_config.DatetimeColumn("Start", format="YYYY-MM-DD HH:mm:ss"),
            "duration_seconds": st.column_config.NumberColumn("Seconds", format="%d"),
            "score": st.column_config.ProgressColumn(
                "Score", format="%.1f", min_value=0.0,
                max_value=float(max(moments["score"].max(), 1.0))),
            "peak_value": st.column_config.NumberColumn("Peak", format="%.1f"),
            "baseline_mean": st.column_config.NumberColumn("Baseline", format="%.1f"),
            "top_emotes": "Top emotes",
        },
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key="m_table",
    )  # fmt: skip
    rows = event.selection.rows if event is not None else []
    return moments.iloc[rows[0] if rows else 0]


ctx = page_context()
st.title("Moments")
st.caption(
    "Raids, chat spikes, revenue bursts and sentiment swings the pipeline detected, "
    f"across all streams. Select a row to see it in context. Times in {ctx.tz}."
)
every = ctx.data.moments()
if not empty_state(every, "moments", "They appear when a stream does something unusual."):
    chosen = filters(ctx, every)
    moments = ctx.data.moments(**chosen)
    if moments.empty:
        st.info("No moments match these filters.", icon=":material/filter_alt_off:")
    else:
        st.caption(f"{len(moments)} of {len(every)} moments")
        selected = moments_table(ctx, moments)
        st.download_button(
            "Export CSV",
            export_frame(moments, ctx.tz).to_csv(index=False).encode(),
            file_name="telemetra-moments.csv",
            mime="text/csv",
            icon=":material/download:",
        )
        st.subheader("In context")
        moment_detail(ctx, selected, timedelta(minutes=5))
