"""Broadcasts: each broadcast of a stream, and broadcasts or streams side by side."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st
from ui import charts
from ui.context import PageContext, page_context
from ui.widgets import emotes_text, empty_state, pick_stream, stream_label

PERIODS = {
    "Last hour": timedelta(hours=1),
    "Last 24 h": timedelta(days=1),
    "Last 7 days": timedelta(days=7),
    "All data": None,
}


def _column_config(ctx: PageContext) -> dict:
    when = "YYYY-MM-DD HH:mm"
    return {
        "broadcast_id": st.column_config.TextColumn("Broadcast"),
        "label": st.column_config.TextColumn("Broadcast"),
        "title": st.column_config.TextColumn("Title"),
        "category": st.column_config.TextColumn("Category"),
        "is_live": st.column_config.CheckboxColumn("Live"),
        "started_at": st.column_config.DatetimeColumn("Started", format=when),
        "ended_at": st.column_config.DatetimeColumn("Ended", format=when),
        "duration_minutes": st.column_config.NumberColumn("Minutes", format="%.0f"),
        "peak_viewers": st.column_config.NumberColumn("Peak viewers", format="localized"),
        "avg_viewers": st.column_config.NumberColumn("Avg viewers", format="%.1f"),
        "messages": st.column_config.NumberColumn("Messages", format="localized"),
        "unique_chatters": st.column_config.NumberColumn("Chatters", format="localized"),
        "messages_per_chatter": st.column_config.NumberColumn("Msgs / chatter", format="%.2f"),
        "first_time_chatters": st.column_config.NumberColumn(
            "First-time",
            format="localized",
            help="Chatters whose first message on this stream was in this broadcast",
        ),
        "returning_chatters": st.column_config.NumberColumn(
            "Returning",
            format="localized",
            help="Chatters who had chatted on this stream in an earlier broadcast",
        ),
        "revenue": st.column_config.NumberColumn(f"Revenue ({ctx.currency})", format="%.2f"),
        "messages_per_minute": st.column_config.NumberColumn("Messages / min", format="%.1f"),
        "revenue_per_hour": st.column_config.NumberColumn("Revenue / hour", format="%.2f"),
        "moment_count": st.column_config.NumberColumn("Moments"),
        "emotes": st.column_config.TextColumn("Top emotes"),
    }


def _table(ctx: PageContext, df: pd.DataFrame, columns: list[str]) -> None:
    shown = charts.localized(df, ["started_at", "ended_at"], ctx.tz)
    shown["emotes"] = shown["top_emotes"].map(emotes_text)
    st.dataframe(shown, column_order=columns, column_config=_column_config(ctx), hide_index=True)


def summaries_section(ctx: PageContext, stream_id: str) -> None:
    summaries = ctx.data.broadcast_summaries(stream_id)
    if empty_state(summaries, "broadcasts for this stream"):
        return
    count, peak, revenue = st.columns(3)
    count.metric("Broadcasts", len(summaries), border=True)
    peak.metric("Best peak", f"{summaries['peak_viewers'].max():,}", border=True)
    revenue.metric("Revenue, all broadcasts", f"{summaries['revenue'].sum():,.2f} {ctx.currency}",
                   border=True)  # fmt: skip
    _table(ctx, summaries, ["broadcast_id", "is_live", "title", "category", "started_at",
                            "ended_at", "duration_minutes", "peak_viewers", "avg_viewers",
                            "messages", "unique_chatters", "first_time_chatters",
                            "returning_chatters", "messages_per_chatter",
                            "revenue", "moment_count", "emotes"])  # fmt: skip


def compare_broadcasts_section(ctx: PageContext, stream_id: str) -> None:
    every = ctx.data.broadcast_summaries()
    if empty_state(every, "broadcasts"):
        return
    every["key"] = every["stream_id"] + "/" + every["broadcast_id"]
    every["label"] = (
        every["stream_id"]
        + " · "
        + charts.localized(every, ["started_at"], ctx.tz)["started_at"].dt.strftime(
            "%Y-%m-%d %H:%M"
        )
    )
    labels = dict(zip(every["key"], every["label"], strict=True))
    # Default: this stream's two latest, topped up with other streams' latest.
    default = (every[every["stream_id"] == stream_id]["key"].head(2).tolist()
               + every[every["stream_id"] != stream_id]["key"].tolist())[:2]  # fmt: skip
    chosen = st.multiselect("Broadcasts", list(labels), default=default,
                            format_func=labels.get, key="compare_broadcasts")  # fmt: skip
    if not chosen:
        st.caption("Pick two or more broadcasts to compare them.")
        return
    keys = tuple(tuple(k.split("/", 1)) for k in chosen)
    compared = ctx.data.compare_broadcasts(keys)
    compared["label"] = compared["stream_id"] + "/" + compared["broadcast_id"]
    compared["label"] = compared["label"].map(labels)
    st.altair_chart(
        charts.comparison_bars(compared, "label", {
            "peak_viewers": "Peak viewers", "avg_viewers": "Avg viewers",
            "messages_per_minute": "Messages / min", "unique_chatters": "Unique chatters",
            "first_time_chatters": "First-time chatters",
            "messages_per_chatter": "Messages / chatter",
            "revenue_per_hour": f"Revenue / hour ({ctx.currency})", "moment_count": "Moments",
        }),
    )  # fmt: skip
    _table(ctx, compared, ["label", "title", "started_at", "duration_minutes", "peak_viewers",
                           "avg_viewers", "messages_per_minute", "unique_chatters",
                           "first_time_chatters", "returning_chatters",
                           "messages_per_chatter", "revenue_per_hour", "moment_count",
                           "emotes"])  # fmt: skip


def compare_streams_section(ctx: PageContext, stream_id: str) -> None:
    streams = ctx.data.list_streams()
    labels = {row.stream_id: stream_label(row) for row in streams.itertuples(index=False)}
    others = [s for s in labels if s != stream_id]
    pick, period = st.columns([3, 1])
    chosen = pick.multiselect("Streams", list(labels), default=[stream_id, *others[:2]],
                              format_func=labels.get, key="compare_streams")  # fmt: skip
    span = period.selectbox("Period", list(PERIODS), index=2, key="compare_period")
    if not chosen:
        st.caption("Pick streams to compare them.")
        return
    newest = streams.loc[streams["stream_id"].isin(chosen), "last_event_ts"].max()
    start = end = None
    if PERIODS[span] is not None and pd.notna(newest):
        end = newest.to_pydatetime() + timedelta(seconds=1)
        start = end - PERIODS[span]
    st.caption("Periods end at the newest event of the chosen streams.")
    compared = ctx.data.compare_streams(tuple(chosen), start=start, end=end)
    st.altair_chart(
        charts.comparison_bars(compared, "stream_id", {
            "peak_viewers": "Peak viewers", "avg_viewers": "Avg viewers",
            "messages": "Messages", "peak_chat_per_minute": "Peak messages / min",
            "revenue": f"Revenue ({ctx.currency})", "moments": "Moments",
        }),
    )  # fmt: skip
    st.dataframe(
        compared.drop(columns=["first_window", "last_window"]),
        hide_index=True,
        column_config={
            "sentiment": st.column_config.NumberColumn("Sentiment", format="%+.2f"),
            "revenue": st.column_config.NumberColumn(f"Revenue ({ctx.currency})", format="%.2f"),
            "avg_viewers": st.column_config.NumberColumn("Avg viewers", format="%.1f"),
        },
    )


ctx = page_context()
st.title("Broadcasts")
st.caption(f"Every broadcast of a stream, and comparisons side by side. Times in {ctx.tz}.")
stream_id = pick_stream(ctx, key="broadcasts_stream")
if stream_id is not None:
    summaries_section(ctx, stream_id)
    st.header("Compare")
    by_broadcast, by_stream = st.tabs(["Broadcasts", "Streams"])
    with by_broadcast:
        compare_broadcasts_section(ctx, stream_id)
    with by_stream:
        compare_streams_section(ctx, stream_id)
