"""Live: one stream as it happens, refreshed in place every few seconds."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st
from ui import charts
from ui.context import PageContext, page_context
from ui.widgets import delta, empty_state, freshness_badge, md_escape, moment_detail, pick_stream

RANGES = {
    "15 min": timedelta(minutes=15),
    "1 h": timedelta(hours=1),
    "6 h": timedelta(hours=6),
    "24 h": timedelta(hours=24),
}


def pulse_bar(ctx: PageContext, snap: pd.Series, metrics: pd.DataFrame, span: str) -> None:
    """PulseBar: the headline numbers with their change over one window length."""
    viewers, chat, chatters, engaged, mood, money = st.columns(6)
    viewers.metric(
        "Viewers",
        "–" if pd.isna(snap["viewers"]) else f"{snap['viewers']:,}",
        delta=delta(snap["viewers"], snap["viewers_before"]),
        # Windows with chat but no viewer event have no count: left out, not drawn as 0.
        chart_data=metrics["last_viewers"].dropna().tolist(),
        chart_type="area",
        border=True,
        help="Viewers at the end of the newest window with a viewer count; change against "
        "one minute earlier.",
    )
    chat.metric(
        "Messages / min",
        f"{snap['chat_count']:,}",
        delta=delta(snap["chat_count"], snap["chat_count_before"]),
        chart_data=metrics["chat_count"].tolist(),
        border=True,
    )
    newest = metrics[metrics["window_start"] == snap["window_start"]]
    first_time = int(newest["first_time_chatters"].iloc[0]) if len(newest) else 0
    chatters.metric(
        "Chatters / min",
        f"{snap['unique_chatters']:,}",
        delta=delta(snap["unique_chatters"], snap["unique_chatters_before"]),
        chart_data=metrics["unique_chatters"].tolist(),
        border=True,
        help=f"Distinct chatters in the newest window; {first_time:,} of them chatted on "
        "this stream for the first time.",
    )
    per_chatter = metrics["chat_count"] / metrics["unique_chatters"].where(
        metrics["unique_chatters"] > 0
    )
    engaged.metric(
        "Msgs / chatter",
        _ratio(snap["chat_count"], snap["unique_chatters"]),
        chart_data=per_chatter.fillna(0).round(2).tolist(),
        border=True,
        help="Messages per chatter in the newest window: how much each chatter says. "
        "A crowd reacting at once lowers it; a few regulars talking raise it.",
    )
    sentiment = snap["sentiment_mean"]
    mood.metric(
        "Sentiment",
        "–" if pd.isna(sentiment) else f"{sentiment:+.2f}",
        chart_data=metrics["sentiment_mean"].fillna(0).tolist(),
        border=True,
        help="Mean VADER compound score of the newest window's messages, from -1 to +1.",
    )
    revenue = 0.0 if pd.isna(snap["revenue_recent"]) else snap["revenue_recent"]
    sales = 0 if pd.isna(snap["tx_count_recent"]) else int(snap["tx_count_recent"])
    money.metric(
        f"Revenue ({ctx.currency})",
        f"{revenue:,.2f}",
        chart_data=metrics.loc[metrics["tiling"], "revenue"].fillna(0).tolist(),
        chart_type="bar",
        border=True,
        help=f"{sales} subscriptions, gifts, bits and donations in the range ({span}).",
    )


def with_chatter_mix(
    ctx: PageContext, stream_id: str, metrics: pd.DataFrame, start, end, fresh: bool
) -> pd.DataFrame:
    """The windows with their chatters split: ``first_time_chatters`` (first message on
    this stream in the window) and ``returning_chatters`` (the rest)."""
    firsts = ctx.data.first_time_chatters(stream_id, start=start, end=end, fresh=fresh)
    mixed = metrics.merge(firsts, on="window_start", how="left")
    mixed["first_time_chatters"] = mixed["first_time_chatters"].fillna(0).astype("int64")
    mixed["returning_chatters"] = mixed["unique_chatters"] - mixed["first_time_chatters"]
    return mixed


def _ratio(messages: object, chatters: object) -> str:
    if pd.isna(messages) or pd.isna(chatters) or not chatters:
        return "–"
    return f"{float(messages) / float(chatters):.2f}"


def follow_click(event, ids: list[str]) -> None:
    """A new click on the timeline picks that moment in the select box; the select box
    keeps its own choice otherwise (the chart remembers its last click across reruns)."""
    points = event.selection.get(charts.MOMENT_SELECTION, []) if event else []
    clicked = points[0].get("moment_id") if points else None
    if clicked in ids and clicked != st.session_state.get("live_clicked"):
        st.session_state["live_moment"] = clicked
    st.session_state["live_clicked"] = clicked
    if st.session_state.get("live_moment") not in ids:  # another stream or range
        st.session_state["live_moment"] = ids[0]


def moments_section(ctx: PageContext, stream_id: str, metrics: pd.DataFrame, start, end) -> None:
    """MomentsTimeline with the chosen moment's context under it."""
    st.subheader("Viewers and moments")
    moments = ctx.data.moments(stream_ids=[stream_id], start=start, end=end)
    event = st.altair_chart(
        charts.moments_timeline(metrics, moments, ctx.tz),
        width="stretch",
        on_select="rerun",
        selection_mode=charts.MOMENT_SELECTION,
        key="live_timeline",
    )
    if moments.empty:
        st.caption("No moments detected in this range.")
        return
    ids = moments["moment_id"].tolist()
    follow_click(event, ids)
    by_id = moments.set_index("moment_id")
    chosen = st.selectbox(
        "Moment (click one on the timeline, or pick it here)",
        ids,
        format_func=lambda m: (
            f"{charts.KIND_LABELS.get(by_id.at[m, 'kind'], by_id.at[m, 'kind'])} · "
            f"{by_id.at[m, 'start_ts'].tz_convert(ctx.tz):%H:%M:%S} · "
            f"score {by_id.at[m, 'score']:.1f}"
        ),
        key="live_moment",
    )
    moment_detail(ctx, moments.loc[moments["moment_id"] == chosen].iloc[0], timedelta(minutes=5))


def snapshot(ctx: PageContext, stream_id: str, span: str) -> tuple[pd.DataFrame, bool]:
    """The newest snapshot (``GoldQueries.newest_snapshot``) and whether it is fresh."""
    snap = ctx.data.newest_snapshot(stream_id, lookback=RANGES[span])
    return snap, bool(snap["fresh"].iloc[0]) if not snap.empty else True


def live_panel(ctx: PageContext, stream_id: str, span: str) -> None:
    snap, fresh = snapshot(ctx, stream_id, span)
    if empty_state(snap, "data for this stream"):
        return
    row = snap.iloc[0]
    status = ":red-badge[● LIVE]" if row["is_live"] else ":gray-badge[offline]"
    title = md_escape(row["title"]) if isinstance(row["title"], str) else "untitled"
    category = f" · {md_escape(row['category'])}" if isinstance(row["category"], str) else ""
    st.markdown(f"{status} **{title}**{category}")
    freshness_badge(row["last_event_ts"], ctx.tz, ctx.refresh_seconds)
    if pd.isna(row["window_end"]):
        st.info(
            "No minute metrics for this stream yet: the pipeline adds them with its next "
            "micro-batch (every few seconds)."
        )
        return
    if not row["window_complete"]:
        covered = (row["last_event_ts"] - row["window_start"]).total_seconds()
        st.caption(
            f"The stream's first minute is still filling: these counts cover {covered:.0f} s "
            "of its newest window, not a whole minute."
        )
    end = row["window_end"].to_pydatetime()
    start = end - RANGES[span]
    # Windows up to the snapshot's newest complete one: those starting after it are still
    # filling (minute_metrics and top_emotes take window starts in [start, end)).
    through = row["window_start"].to_pydatetime() + timedelta(microseconds=1)
    metrics = ctx.data.minute_metrics(stream_id, start=start, end=through, fresh=fresh)
    metrics = with_chatter_mix(ctx, stream_id, metrics, start, through, fresh)
    pulse_bar(ctx, row, metrics, span)

    flow, cloud = st.columns([2, 1])
    with flow:
        st.subheader("Chat flow")
        st.altair_chart(charts.chat_flow(metrics, ctx.tz), width="stretch")
    with cloud:
        st.subheader("Top emotes")
        emotes = ctx.data.top_emotes(stream_id, start=start, end=through, limit=12, fresh=fresh)
        if not empty_state(emotes, "emotes in this range"):
            st.altair_chart(charts.emote_cloud(emotes), width="stretch")
    moments_section(ctx, stream_id, metrics, start, end)
    who, money = st.columns(2)
    with who:
        st.subheader("First-time and returning chatters")
        st.altair_chart(charts.chatter_mix(metrics, ctx.tz), width="stretch")
    with money:
        st.subheader("Revenue per minute")
        st.altair_chart(charts.revenue_bars(metrics, ctx.tz), width="stretch")


ctx = page_context()
st.title("Live")
st.caption(
    "A stream's newest minute and the range before it. "
    f"Refreshes in place every {ctx.refresh_seconds} s; times in {ctx.tz}."
)
pick, window = st.columns([3, 1])
with pick:
    stream_id = pick_stream(ctx, key="live_stream")
with window:
    span = st.segmented_control(
        "Range", list(RANGES), default="1 h", required=True, key="live_range"
    )
if stream_id is not None:
    st.fragment(live_panel, run_every=ctx.refresh_seconds)(ctx, stream_id, span)
