"""Altair charts for ``notebooks/exploration.ipynb`` (data shaped by
``pipelines.serving.exploration``).

Times are shown in UTC: timestamps go to Vega-Lite as naive UTC wall-clock times, which it
prints unchanged whatever the browser's zone. Colours per moment kind match the app's.
Every function returns a ``Note`` instead of a chart when there is nothing to draw.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from pipelines.serving.exploration import Note, StreamData, tiling

KIND_COLORS = {
    "chat_spike": "#00A884",
    "raid": "#7C4DFF",
    "revenue_burst": "#F2A900",
    "sentiment_swing": "#E4508F",
}
_KINDS = alt.Scale(domain=list(KIND_COLORS), range=list(KIND_COLORS.values()))
_WIDTH = 720


def _naive_utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).dt.tz_localize(None)


def _time_x(field: str = "t") -> alt.X:
    return alt.X(f"{field}:T", title="Time (UTC)", axis=alt.Axis(format="%H:%M", labelAngle=0))


def _moment_marks(moments: pd.DataFrame) -> pd.DataFrame:
    marks = moments[["kind", "score"]].copy()
    for col in ("start_ts", "end_ts", "peak_ts"):
        marks[col] = _naive_utc(moments[col].fillna(moments["start_ts"]))
    return marks


def chat_rate(data: StreamData) -> alt.LayerChart | Note:
    """Messages per minute (each 1-minute window, every slide) with the stream's moments
    shaded over their span and a dashed rule at each peak."""
    if data.empty:
        return data.note()
    series = pd.DataFrame(
        {
            "t": _naive_utc(data.metrics["window_end"]),
            "chat_count": data.metrics["chat_count"],
            "unique_chatters": data.metrics["unique_chatters"],
        }
    )
    line = (
        alt.Chart(series)
        .mark_line(color=KIND_COLORS["chat_spike"], strokeWidth=1.5)
        .encode(
            x=_time_x(),
            y=alt.Y("chat_count:Q", title="Messages / min"),
            tooltip=[alt.Tooltip("t:T", format="%H:%M:%S"), "chat_count:Q", "unique_chatters:Q"],
        )
    )
    marks = _moment_marks(data.moments)
    color = alt.Color("kind:N", scale=_KINDS, title="Moment")
    bands = (
        alt.Chart(marks).mark_rect(opacity=0.18).encode(x="start_ts:T", x2="end_ts:T", color=color)
    )
    score = alt.Tooltip("score:Q", format=".1f")
    rules = (
        alt.Chart(marks)
        .mark_rule(strokeDash=[4, 3])
        .encode(x="peak_ts:T", color=color, tooltip=["kind:N", score])
    )
    title = f"{data.stream_id}: chat rate, {len(marks)} moments marked"
    return alt.layer(bands, line, rules).properties(title=title, width=_WIDTH, height=260)


def emote_trends(trend: pd.DataFrame, data: StreamData) -> alt.Chart | Note:
    """Uses of the top emotes per time bucket, one line each, most used first in the legend."""
    if data.empty:
        return data.note()
    if trend.empty:
        return Note(f"No emotes in {data.stream_id}'s chat in this span.")
    minutes = int(trend.attrs["bucket"].total_seconds() // 60)
    return (
        alt.Chart(trend.assign(t=_naive_utc(trend["bucket_start"])))
        .mark_line(point=True, interpolate="monotone")
        .encode(
            x=_time_x(),
            y=alt.Y("count:Q", title=f"Uses per {minutes} min"),
            color=alt.Color("emote:N", sort=trend.attrs["order"], title="Emote"),
            tooltip=["emote:N", alt.Tooltip("t:T", format="%H:%M"), "count:Q"],
        )
        .properties(title=f"{data.stream_id}: top emotes over time", width=_WIDTH, height=260)
    )


def sentiment_vs_viewers(
    data: StreamData, min_messages: int, r: float | None
) -> alt.HConcatChart | Note:
    """Left: viewers and sentiment over time; right: one dot per tiling window with at
    least ``min_messages`` messages, sentiment against viewers, with a fitted line."""
    if data.empty:
        return data.note()
    windows = tiling(data.metrics)
    windows = windows.loc[
        windows["chat_count"] >= min_messages, ["window_start", "avg_viewers", "sentiment_mean"]
    ].assign(t=lambda df: _naive_utc(df["window_start"]))
    if windows.empty:
        return Note(f"No window of {data.stream_id} has {min_messages}+ messages.")
    base = alt.Chart(windows).encode(x=_time_x())
    viewers = base.mark_line(color="#7C4DFF").encode(y=alt.Y("avg_viewers:Q", title="Viewers"))
    mood = base.mark_line(color="#E4508F").encode(
        y=alt.Y("sentiment_mean:Q", title="Sentiment", scale=alt.Scale(domain=[-1, 1]))
    )
    over_time = (
        alt.layer(viewers, mood)
        .resolve_scale(y="independent")
        .properties(width=440, height=240, title="Viewers (purple) and sentiment (pink)")
    )
    dots = (
        alt.Chart(windows)
        .mark_circle(size=40, opacity=0.7)
        .encode(
            x=alt.X("avg_viewers:Q", title="Average viewers", scale=alt.Scale(zero=False)),
            y=alt.Y("sentiment_mean:Q", title="Mean sentiment"),
            color=alt.Color("t:T", title="Time (UTC)", scale=alt.Scale(scheme="viridis")),
            tooltip=[alt.Tooltip("t:T", format="%H:%M"), "avg_viewers:Q", "sentiment_mean:Q"],
        )
    )
    fit = dots.transform_regression("avg_viewers", "sentiment_mean").mark_line(color="black")
    label = "r = n/a" if r is None else f"r = {r:+.2f}"
    scatter = alt.layer(dots, fit).properties(
        width=260, height=240, title=f"Sentiment against viewers ({label})"
    )
    return alt.hconcat(over_time, scatter).properties(title=data.stream_id)


def moments_by_threshold(
    found: pd.DataFrame, data: StreamData, setting: str = "moment_chat_z"
) -> alt.Chart | Note:
    """One row per threshold value: each moment it finds as a bar over its span."""
    if data.empty or found.empty:
        return Note(found.attrs.get("message") or data.message or "Nothing found.")
    marks = _moment_marks(found)[["kind", "score", "start_ts", "end_ts"]]
    marks = marks.assign(value=found[setting].map("{:g}".format))
    order = sorted(marks["value"].unique(), key=float)
    return (
        alt.Chart(marks)
        .mark_bar(height=12, cornerRadius=2)
        .encode(
            x=alt.X("start_ts:T", title="Time (UTC)", axis=alt.Axis(format="%H:%M")),
            x2="end_ts:T",
            y=alt.Y("value:N", sort=order, title=setting),
            color=alt.Color("kind:N", scale=_KINDS, title="Moment"),
            tooltip=["kind:N", "value:N", alt.Tooltip("score:Q", format=".1f")],
        )
        .properties(
            title=f"{data.stream_id}: moments found at each {setting}", width=_WIDTH, height=200
        )
    )
