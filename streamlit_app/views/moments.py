"""Moments: every detected moment across streams, filtered, explained, exportable."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st
from ui import charts
from ui.context import PageContext, page_context
from ui.widgets import as_list, emotes_text, empty_state, moment_detail

from pipelines.serving.moment_export import ExportMoment, moments_csv, vod_offset, youtube_chapters


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


def _vod(moments: pd.DataFrame, col: str) -> pd.Series:
    """Each moment's ``col`` time as an offset into its broadcast's video ("" without one)."""
    return pd.Series(
        [
            vod_offset(t.to_pydatetime(), b.to_pydatetime()) if pd.notna(t) and pd.notna(b) else ""
            for t, b in zip(moments[col], moments["broadcast_started_at"], strict=True)
        ],
        index=moments.index,
        dtype=object,
    )


def export_frame(moments: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Flat columns for CSV: times in the viewer's zone, offsets into the broadcast's video
    beside them, lists as text."""
    out = charts.localized(moments, ["start_ts", "end_ts", "peak_ts", "broadcast_started_at"], tz)
    for col in ("start", "peak", "end"):
        out[f"vod_{col}"] = _vod(moments, f"{col}_ts")
    out["top_emotes"] = out["top_emotes"].map(emotes_text)
    out["sample_messages"] = out["sample_messages"].map(lambda m: " | ".join(as_list(m)))
    return out


def _export_moment(row: pd.Series) -> ExportMoment:
    return ExportMoment(
        kind=row["kind"],
        start=row["start_ts"].to_pydatetime(),
        peak=row["peak_ts"].to_pydatetime() if pd.notna(row["peak_ts"]) else None,
        end=row["end_ts"].to_pydatetime(),
        score=float(row["score"]),
        top_emotes=tuple(e["emote"] for e in as_list(row["top_emotes"])),
    )


def broadcast_exports(moments: pd.DataFrame, selected: pd.Series) -> None:
    """Chapters and markers for the selected moment's broadcast: the listed moments of it,
    as offsets into its video."""
    if pd.isna(selected["broadcast_id"]):
        st.caption("This moment lies before its stream's first broadcast: no video offsets.")
        return
    mine = moments[moments["broadcast_id"] == selected["broadcast_id"]]
    start = selected["broadcast_started_at"].to_pydatetime()
    marks = [_export_moment(row) for _, row in mine.iterrows()]
    name = f"telemetra-{selected['stream_id']}-{start:%Y%m%dT%H%M}"
    st.markdown(
        f"**This broadcast's video** (started {start:%Y-%m-%d %H:%M} UTC): "
        f"{len(marks)} listed moment{'s' if len(marks) != 1 else ''}"
    )
    left, right = st.columns(2)
    with left:
        st.download_button(
            "Markers CSV (offsets)",
            moments_csv(marks, start).encode(),
            file_name=f"{name}-markers.csv",
            mime="text/csv",
            icon=":material/download:",
            help="One row per moment: kind, start/peak/end as H:MM:SS into the video, UTC "
            "times, score, top emotes. For an editor's marker import or a spreadsheet.",
        )
    chapters = youtube_chapters(marks, start)
    with right:
        if chapters is None:
            st.caption("YouTube chapters need at least three, 10 s apart: too few moments here.")
        else:
            st.download_button(
                "YouTube chapters",
                chapters.encode(),
                file_name=f"{name}-chapters.txt",
                mime="text/plain",
                icon=":material/download:",
                help="Paste into the video's description: YouTube turns the lines into chapters.",
            )
    if chapters is not None:
        st.code(chapters, language=None)


def moments_table(ctx: PageContext, moments: pd.DataFrame) -> pd.Series:
    """The filtered moments; returns the selected row (the newest when none is)."""
    shown = export_frame(moments, ctx.tz)
    shown["kind"] = shown["kind"].map(charts.KIND_LABELS).fillna(shown["kind"])
    event = st.dataframe(
        shown,
        column_order=["stream_id", "kind", "start_ts", "vod_start", "duration_seconds",
                      "score", "peak_value", "baseline_mean", "top_emotes", "title"],
        column_config={
            "stream_id": "Stream", "kind": "Kind", "title": "Title", "vod_start": "In video",
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
        broadcast_exports(moments, selected)
