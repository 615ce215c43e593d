"""Small building blocks the pages share: the stream picker, empty states, freshness."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import streamlit as st

from ui import charts
from ui.context import PageContext


def empty_state(df: pd.DataFrame, what: str, hint: str = "") -> bool:
    """Explain an empty result (missing gold table, or simply nothing yet); True if empty."""
    if not df.empty:
        return False
    message = df.attrs.get("message")
    if message:
        st.info(message, icon=":material/hourglass_empty:")
    else:
        st.info(f"No {what} yet. {hint}".strip(), icon=":material/info:")
    return True


def stream_label(row: tuple) -> str:
    """``● id — title`` (● live, ○ offline) for a ``list_streams().itertuples()`` row."""
    dot = "●" if row.is_live else "○"
    title = f" — {row.title}" if isinstance(row.title, str) and row.title else ""
    return f"{dot} {row.stream_id}{title}"


def pick_stream(ctx: PageContext, key: str, label: str = "Stream") -> str | None:
    """A select box of streams, live ones first; None (with the empty state) if none."""
    streams = ctx.data.list_streams(fresh=True)
    if empty_state(streams, "streams", "Start the producer and the pipeline to see some."):
        # A fresh lake gets its first stream a minute or so after `telemetra up`: look again
        # every refresh and redraw the page when it comes, so nobody has to reload.
        st.fragment(_rerun_when_streams_exist, run_every=ctx.refresh_seconds)(ctx)
        return None
    labels = {row.stream_id: stream_label(row) for row in streams.itertuples(index=False)}
    return st.selectbox(label, list(labels), format_func=labels.get, key=key)


def _rerun_when_streams_exist(ctx: PageContext) -> None:
    if not ctx.data.list_streams(fresh=True).empty:
        st.rerun(scope="app")


def format_age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


def freshness_badge(last_event: pd.Timestamp | None, tz: str, refresh_seconds: int) -> None:
    """How old the newest event is: green when within a few refreshes, red when stale."""
    if last_event is None or pd.isna(last_event):
        st.caption("No events seen yet.")
        return
    age = (datetime.now(timezone.utc) - last_event.to_pydatetime()).total_seconds()
    shown = last_event.tz_convert(tz).strftime("%Y-%m-%d %H:%M:%S %Z")
    if age <= 6 * refresh_seconds:
        color, word = "green", "fresh"
    elif age <= 300:
        color, word = "orange", "lagging"
    else:
        color, word = "red", "stale"
    st.markdown(
        f":{color}-badge[:material/schedule: {word}] newest event {shown} "
        f"· **{format_age(age)}** ago · refreshes every {refresh_seconds} s"
    )


def delta(now: object, before: object) -> float | None:
    """now - before, or None when either is missing (no arrow in the metric)."""
    if now is None or before is None or pd.isna(now) or pd.isna(before):
        return None
    change = float(now) - float(before)
    return int(change) if change.is_integer() else change


def md_escape(text: object) -> str:
    """User text (titles, stream names) shown inside markdown, without markdown effects."""
    return "".join(f"\\{c}" if c in "\\`*_{}[]()#+-.!|~<>:$" else c for c in str(text))


def emotes_frame(emotes: object) -> pd.DataFrame:
    """A list of {emote, count} structs (or None) as a two-column frame."""
    return pd.DataFrame(as_list(emotes), columns=["emote", "count"])


def as_list(value: object) -> list:
    """A LIST cell as a list; null (None, NA) as an empty one."""
    return list(value) if isinstance(value, list | tuple) else []


def emotes_text(emotes: object) -> str:
    return " · ".join(f"{r.emote} ×{r.count}" for r in emotes_frame(emotes).itertuples())


def chatter_rise(metrics: pd.DataFrame, moment: pd.Series) -> str:
    """How many more people chatted: the most unique chatters of a minute window starting
    inside the moment, against the median of the windows starting before it."""
    starts = metrics["window_start"]
    before = metrics.loc[starts < moment["start_ts"], "unique_chatters"]
    inside = metrics.loc[
        (starts >= moment["start_ts"]) & (starts < moment["end_ts"]), "unique_chatters"
    ]
    if before.empty or inside.empty:
        return "Chatters: not enough minute windows around this moment to compare."
    peak, usual = int(inside.max()), float(before.median())
    rise = f" ({peak / usual:.1f}×)" if usual > 0 else ""
    return (
        f"Chatters per minute: {peak:,} at the peak against {usual:,.0f} before{rise} "
        "(median of the minute windows shown before it)."
    )


def moment_detail(ctx: PageContext, moment: pd.Series, padding: timedelta) -> None:
    """A moment in context: its metric around it, its top emotes, sample messages."""
    label = charts.KIND_LABELS.get(moment["kind"], moment["kind"])
    peak = pd.Timestamp(moment["peak_ts"] if pd.notna(moment["peak_ts"]) else moment["start_ts"])
    st.markdown(
        f"**{label}** on **{md_escape(moment['stream_id'])}** · peak "
        f"{peak.tz_convert(ctx.tz):%Y-%m-%d %H:%M:%S} · score **{moment['score']:.1f}** "
        f"(baseline {moment['baseline_mean']:,.1f} ± {moment['baseline_std']:,.1f})"
    )
    metrics = ctx.data.minute_metrics(
        moment["stream_id"],
        start=(moment["start_ts"] - padding).to_pydatetime(),
        end=(moment["end_ts"] + padding).to_pydatetime(),
    )
    left, right = st.columns([2, 1])
    with left:
        if metrics.empty:
            st.caption("No minute metrics around this moment.")
        else:
            st.altair_chart(charts.moment_context(metrics, moment, ctx.tz), width="stretch")
            if moment["kind"] == "chat_spike":
                st.caption(chatter_rise(metrics, moment))
    with right:
        emotes = emotes_frame(moment["top_emotes"])
        st.markdown("**Top emotes**")
        if emotes.empty:
            st.caption("No emotes in this moment.")
        else:
            st.dataframe(emotes, hide_index=True, width="stretch")
        st.markdown("**Sample messages**")
        messages = [m for m in as_list(moment["sample_messages"]) if m]
        if messages:
            st.dataframe(pd.DataFrame({"message": messages}), hide_index=True, width="stretch")
        else:
            st.caption("No sample messages.")
