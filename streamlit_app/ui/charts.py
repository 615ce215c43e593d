"""Altair charts shared by the pages, with one palette so a metric has one color everywhere.

Times arrive in UTC. Charts get them as naive wall-clock times of the viewer's zone:
Vega-Lite reads naive ISO strings as local time and prints them unchanged, so the axis
shows the chosen zone whatever the browser's own zone is.
"""

from __future__ import annotations

import math

import altair as alt
import pandas as pd

COLORS = {
    "viewers": "#7C4DFF",
    "chat": "#00A884",
    "chatters": "#2F80ED",
    "revenue": "#F2A900",
    "neutral": "#9AA0A6",
}
KIND_COLORS = {
    "chat_spike": COLORS["chat"],
    "raid": COLORS["viewers"],
    "revenue_burst": COLORS["revenue"],
    "sentiment_swing": "#E4508F",
}
KIND_LABELS = {
    "chat_spike": "Chat spike",
    "raid": "Raid",
    "revenue_burst": "Revenue burst",
    "sentiment_swing": "Sentiment swing",
}
# Which metric tells a moment's story, by kind.
KIND_METRIC = {
    "chat_spike": ("chat_count", "Messages / min"),
    "raid": ("last_viewers", "Viewers"),
    "revenue_burst": ("revenue", "Revenue / min"),
    "sentiment_swing": ("sentiment_mean", "Sentiment"),
}
MOMENT_SELECTION = "moment"
_KIND_SCALE = alt.Scale(domain=list(KIND_COLORS), range=list(KIND_COLORS.values()))


def local_naive(values: pd.Series, tz: str) -> pd.Series:
    """UTC timestamps as naive wall-clock times in ``tz`` (for Vega-Lite)."""
    return pd.to_datetime(values, utc=True).dt.tz_convert(tz).dt.tz_localize(None)


def localized(df: pd.DataFrame, columns: list[str], tz: str) -> pd.DataFrame:
    """A copy with the given UTC columns converted to ``tz`` (for tables)."""
    out = df.copy()
    for col in columns:
        out[col] = pd.to_datetime(out[col], utc=True).dt.tz_convert(tz)
    return out


def _time_x(field: str, tz: str) -> alt.X:
    return alt.X(f"{field}:T", title=f"Time ({tz})", axis=alt.Axis(format="%H:%M", labelAngle=0))


def _moment_frame(moments: pd.DataFrame, tz: str) -> pd.DataFrame:
    out = moments[["moment_id", "kind", "score", "peak_value"]].copy()
    for col in ("start_ts", "end_ts", "peak_ts"):
        out[col] = local_naive(moments[col].fillna(moments["start_ts"]), tz)
    out["label"] = out["kind"].map(KIND_LABELS).fillna(out["kind"])
    return out


def moments_timeline(metrics: pd.DataFrame, moments: pd.DataFrame, tz: str) -> alt.VConcatChart:
    """MomentsTimeline: viewers over time with moments shaded, and a clickable strip of
    moments under it (selection ``moment`` carries the clicked moment_id)."""
    data = metrics.assign(t=local_naive(metrics["window_end"], tz))
    area = (
        alt.Chart(data)
        .mark_area(line={"color": COLORS["viewers"]}, color=COLORS["viewers"], opacity=0.25)
        .encode(
            x=_time_x("t", tz),
            y=alt.Y("last_viewers:Q", title="Viewers"),
            tooltip=[alt.Tooltip("t:T", title="Time", format="%H:%M:%S"),
                     alt.Tooltip("last_viewers:Q", title="Viewers", format=",")],
        )
    )  # fmt: skip
    marks = _moment_frame(moments, tz)
    bands = (
        alt.Chart(marks)
        .mark_rect(opacity=0.15)
        .encode(
            x="start_ts:T", x2="end_ts:T", color=alt.Color("kind:N", scale=_KIND_SCALE, legend=None)
        )
    )
    pick = alt.selection_point(name=MOMENT_SELECTION, fields=["moment_id"], on="click")
    strip = (
        alt.Chart(marks)
        .mark_circle(stroke="white", strokeWidth=1)
        .encode(
            x=_time_x("peak_ts", tz),
            y=alt.Y("label:N", title=None),
            size=alt.Size("score:Q", legend=None, scale=alt.Scale(range=[80, 500])),
            color=alt.Color("kind:N", scale=_KIND_SCALE, title="Moment"),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.35)),
            tooltip=["label:N", alt.Tooltip("peak_ts:T", title="Peak", format="%H:%M:%S"),
                     alt.Tooltip("score:Q", format=".1f"), "moment_id:N"],
        )
        .add_params(pick)
        .properties(height=max(60, 28 * max(1, marks["kind"].nunique())))
    )  # fmt: skip
    top = (area + bands).properties(height=220) if len(marks) else area.properties(height=220)
    return alt.vconcat(top, strip).resolve_scale(x="shared")


def chat_flow(metrics: pd.DataFrame, tz: str) -> alt.VConcatChart:
    """ChatFlow: messages per minute and unique chatters, sentiment as a strip below."""
    data = metrics.assign(t=local_naive(metrics["window_end"], tz))
    long = data.melt(id_vars=["t"], value_vars=["chat_count", "unique_chatters"], var_name="series")
    long["series"] = long["series"].map(
        {"chat_count": "Messages / min", "unique_chatters": "Unique chatters"}
    )
    lines = (
        alt.Chart(long)
        .mark_line(interpolate="monotone", strokeWidth=2)
        .encode(
            x=_time_x("t", tz),
            y=alt.Y("value:Q", title="Per minute"),
            color=alt.Color("series:N", title=None, legend=alt.Legend(orient="top"),
                            scale=alt.Scale(domain=["Messages / min", "Unique chatters"],
                                            range=[COLORS["chat"], COLORS["chatters"]])),
            tooltip=[alt.Tooltip("t:T", title="Time", format="%H:%M:%S"), "series:N",
                     alt.Tooltip("value:Q", format=",")],
        )
        .properties(height=200)
    )  # fmt: skip
    mood = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=_time_x("t", tz),
            color=alt.Color("sentiment_mean:Q", title="Sentiment",
                            scale=alt.Scale(scheme="redblue", domain=[-1, 1])),
            tooltip=[alt.Tooltip("t:T", title="Time", format="%H:%M:%S"),
                     alt.Tooltip("sentiment_mean:Q", title="Sentiment", format="+.2f")],
        )
        .properties(height=28)
    )  # fmt: skip
    return alt.vconcat(lines, mood).resolve_scale(x="shared", color="independent")


def emote_cloud(emotes: pd.DataFrame) -> alt.LayerChart:
    """EmoteCloud: one bubble per emote, sized by use, the most used in the middle."""
    data = emotes.reset_index(drop=True).copy()
    # Golden-angle spiral: rank i sits at radius sqrt(i), so bubbles spread evenly.
    angle = data.index.to_series() * math.pi * (3 - math.sqrt(5))
    radius = data.index.to_series().pow(0.5)
    data["x"], data["y"] = radius * angle.map(math.cos), radius * angle.map(math.sin)
    hidden = alt.Axis(labels=False, ticks=False, grid=False, domain=False, title=None)
    base = alt.Chart(data).encode(
        x=alt.X("x:Q", axis=hidden, scale=alt.Scale(zero=False, nice=False, padding=40)),
        y=alt.Y("y:Q", axis=hidden, scale=alt.Scale(zero=False, nice=False, padding=30)),
        tooltip=["emote:N", alt.Tooltip("count:Q", title="Uses", format=",")],
    )
    bubbles = base.mark_circle(opacity=0.75).encode(
        size=alt.Size("count:Q", legend=None, scale=alt.Scale(range=[300, 4000])),
        color=alt.Color("emote:N", legend=None, scale=alt.Scale(scheme="tableau20")),
    )
    labels = base.mark_text(fontWeight="bold", fontSize=11).encode(text="emote:N")
    return (bubbles + labels).properties(height=260).configure_view(strokeWidth=0)


def revenue_bars(metrics: pd.DataFrame, tz: str) -> alt.Chart:
    """Revenue per minute, from the windows that tile time (no double counting)."""
    data = metrics[metrics["tiling"]].assign(t=local_naive(metrics["window_start"], tz))
    return (
        alt.Chart(data)
        .mark_bar(color=COLORS["revenue"])
        .encode(
            x=_time_x("t", tz),
            y=alt.Y("revenue:Q", title="Revenue"),
            tooltip=[alt.Tooltip("t:T", title="Minute from", format="%H:%M"),
                     alt.Tooltip("revenue:Q", format=",.2f"),
                     alt.Tooltip("tx_count:Q", title="Sales")],
        )
        .properties(height=160)
    )  # fmt: skip


def moment_context(metrics: pd.DataFrame, moment: pd.Series, tz: str) -> alt.LayerChart:
    """The metric that defines the moment's kind, around it, with the moment shaded."""
    field, title = KIND_METRIC.get(moment["kind"], ("chat_count", "Messages / min"))
    data = metrics.assign(t=local_naive(metrics["window_end"], tz))
    color = KIND_COLORS.get(moment["kind"], COLORS["neutral"])
    line = (
        alt.Chart(data)
        .mark_line(point=True, color=color)
        .encode(x=_time_x("t", tz), y=alt.Y(f"{field}:Q", title=title),
                tooltip=[alt.Tooltip("t:T", title="Time", format="%H:%M:%S"),
                         alt.Tooltip(f"{field}:Q", title=title, format=",.2f")])
    )  # fmt: skip
    span = pd.DataFrame(
        {
            "start": local_naive(pd.Series([moment["start_ts"]]), tz),
            "end": local_naive(pd.Series([moment["end_ts"]]), tz),
        }
    )
    band = alt.Chart(span).mark_rect(color=color, opacity=0.15).encode(x="start:T", x2="end:T")
    return (band + line).properties(height=220)


def comparison_bars(df: pd.DataFrame, label_col: str, metrics: dict[str, str]) -> alt.FacetChart:
    """One small bar chart per metric (own scale each), one bar per compared item."""
    long = df.melt(id_vars=[label_col], value_vars=list(metrics), var_name="metric")
    long["metric"] = long["metric"].map(metrics)
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("value:Q", title=None),
            y=alt.Y(f"{label_col}:N", title=None, sort=list(df[label_col])),
            color=alt.Color(f"{label_col}:N", legend=None, scale=alt.Scale(scheme="tableau10")),
            tooltip=[f"{label_col}:N", "metric:N", alt.Tooltip("value:Q", format=",.2f")],
        )
        .properties(height=max(40, 26 * len(df)), width=260)
        .facet(facet=alt.Facet("metric:N", title=None, sort=list(metrics.values())), columns=3)
        .resolve_scale(x="independent")
    )
