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
_KIND_SCALE = alt.Scale(
    domain=[KIND_LABELS[k] for k in KIND_COLORS], range=list(KIND_COLORS.values())
)
_TOP_LEGEND = {"orient": "top", "titleOrient": "left", "direction": "horizontal"}


def local_naive(values: pd.Series, tz: str) -> pd.Series:
    """UTC timestamps as naive wall-clock times in ``tz`` (for Vega-Lite)."""
    return pd.to_datetime(values, utc=True).dt.tz_convert(tz).dt.tz_localize(None)


def localized(df: pd.DataFrame, columns: list[str], tz: str) -> pd.DataFrame:
    """A copy with the given UTC columns converted to ``tz`` (for tables)."""
    out = df.copy()
    for col in columns:
        out[col] = pd.to_datetime(out[col], utc=True).dt.tz_convert(tz)
    return out


def _time_x(field: str, tz: str, values: pd.Series, **kwargs) -> alt.X:
    """A time axis in 24-hour time; seconds shown when the data spans under 10 minutes."""
    span = (values.max() - values.min()).total_seconds() if len(values) else 0
    fmt = "%H:%M:%S" if span < 600 else "%H:%M" if span < 2 * 86400 else "%d %b %H:%M"
    axis = alt.Axis(format=fmt, labelAngle=0, labelOverlap=True)
    return alt.X(field=field, type="temporal", title=f"Time ({tz})", axis=axis, **kwargs)


def _moment_frame(moments: pd.DataFrame, tz: str) -> pd.DataFrame:
    out = moments[["moment_id", "kind", "score", "peak_value"]].copy()
    for col in ("start_ts", "end_ts", "peak_ts"):
        out[col] = local_naive(moments[col].fillna(moments["start_ts"]), tz)
    out["label"] = out["kind"].map(KIND_LABELS).fillna(out["kind"])
    # Each kind gets its own lane of markers along the top (pixels from the top edge).
    lanes = {kind: i for i, kind in enumerate(KIND_LABELS)}
    out["lane"] = 10 + 16 * out["kind"].map(lanes).fillna(len(lanes))
    return out


def moments_timeline(metrics: pd.DataFrame, moments: pd.DataFrame, tz: str) -> alt.LayerChart:
    """MomentsTimeline: viewers over time, each moment shaded over its span with a
    clickable marker at its peak (selection ``moment`` carries the moment_id)."""
    data = metrics.assign(t=local_naive(metrics["window_end"], tz))
    marks = _moment_frame(moments, tz)
    x = _time_x("t", tz, data["t"])
    area = (
        alt.Chart(data)
        .mark_area(line={"color": COLORS["viewers"]}, color=COLORS["viewers"], opacity=0.2)
        .encode(
            x=x,
            y=alt.Y("last_viewers:Q", title="Viewers", scale=alt.Scale(nice=True)),
            tooltip=[alt.Tooltip("t:T", title="Time", format="%H:%M:%S"),
                     alt.Tooltip("last_viewers:Q", title="Viewers", format=",")],
        )
    )  # fmt: skip
    kind = alt.Color(
        "label:N", scale=_KIND_SCALE, title="Moments", legend=alt.Legend(**_TOP_LEGEND)
    )
    bands = (
        alt.Chart(marks).mark_rect(opacity=0.12).encode(x="start_ts:T", x2="end_ts:T", color=kind)
    )
    pick = alt.selection_point(name=MOMENT_SELECTION, fields=["moment_id"], on="click")
    peaks = alt.Chart(marks).encode(
        x="peak_ts:T",
        color=kind,
        tooltip=["label:N", alt.Tooltip("peak_ts:T", title="Peak", format="%H:%M:%S"),
                 alt.Tooltip("score:Q", format=".1f"), "moment_id:N"],
    )  # fmt: skip
    rules = peaks.mark_rule(strokeDash=[4, 3], strokeWidth=1.5)
    markers = (
        peaks.mark_circle(stroke="white", strokeWidth=1.5, cursor="pointer")
        .encode(
            y=alt.Y("lane:Q", scale=None),
            size=alt.Size("score:Q", legend=None, scale=alt.Scale(range=[120, 600])),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.4)),
        )
        .add_params(pick)
    )
    return alt.layer(bands, area, rules, markers).properties(height=320)


def chat_flow(metrics: pd.DataFrame, tz: str) -> alt.LayerChart:
    """ChatFlow: messages per minute and unique chatters, sentiment as a strip on top."""
    data = metrics.assign(t=local_naive(metrics["window_end"], tz))
    step = data["t"].diff().median() if len(data) > 1 else pd.Timedelta(seconds=10)
    data["t0"] = data["t"] - (step if pd.notna(step) else pd.Timedelta(seconds=10))
    long = data.melt(id_vars=["t"], value_vars=["chat_count", "unique_chatters"], var_name="series")
    long["series"] = long["series"].map(
        {"chat_count": "Messages / min", "unique_chatters": "Unique chatters"}
    )
    top = float(max(long["value"].max(), 1)) * 1.2 if len(long) else 1.0  # room for the strip
    x = _time_x("t", tz, data["t"])
    lines = (
        alt.Chart(long)
        .mark_line(interpolate="monotone", strokeWidth=2)
        .encode(
            x=x,
            y=alt.Y("value:Q", title="Per minute", scale=alt.Scale(domain=[0, top])),
            color=alt.Color("series:N", title=None, legend=alt.Legend(**_TOP_LEGEND),
                            scale=alt.Scale(domain=["Messages / min", "Unique chatters"],
                                            range=[COLORS["chat"], COLORS["chatters"]])),
            tooltip=[alt.Tooltip("t:T", title="Time", format="%H:%M:%S"), "series:N",
                     alt.Tooltip("value:Q", format=",")],
        )
    )  # fmt: skip
    mood = (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x="t0:T", x2="t:T", y=alt.value(0), y2=alt.value(10),
            color=alt.Color("sentiment_mean:Q", title="Sentiment",
                            scale=alt.Scale(scheme="redblue", domain=[-1, 1]),
                            legend=alt.Legend(**_TOP_LEGEND, gradientLength=100,
                                              gradientThickness=8)),
            tooltip=[alt.Tooltip("t:T", title="Time", format="%H:%M:%S"),
                     alt.Tooltip("sentiment_mean:Q", title="Sentiment", format="+.2f")],
        )
    )  # fmt: skip
    return alt.layer(mood, lines).resolve_scale(color="independent").properties(height=320)


CHATTER_SERIES = {"first_time_chatters": "First-time", "returning_chatters": "Returning"}


def chatter_mix(metrics: pd.DataFrame, tz: str) -> alt.Chart:
    """Who chats: each window's unique chatters split into first-time (their first message
    on this stream) and returning, stacked."""
    data = metrics.assign(t=local_naive(metrics["window_end"], tz))
    long = data.melt(id_vars=["t"], value_vars=list(CHATTER_SERIES), var_name="series")
    long["series"] = long["series"].map(CHATTER_SERIES)
    return (
        alt.Chart(long)
        .mark_area(interpolate="monotone", opacity=0.85)
        .encode(
            x=_time_x("t", tz, data["t"]),
            y=alt.Y("value:Q", title="Chatters / min", stack="zero"),
            color=alt.Color("series:N", title=None, legend=alt.Legend(**_TOP_LEGEND),
                            scale=alt.Scale(domain=list(CHATTER_SERIES.values()),
                                            range=[COLORS["chat"], COLORS["chatters"]])),
            order=alt.Order("series:N", sort="ascending"),
            tooltip=[alt.Tooltip("t:T", title="Window to", format="%H:%M:%S"), "series:N",
                     alt.Tooltip("value:Q", format=",")],
        )
        .properties(height=200)
    )  # fmt: skip


def emote_cloud(emotes: pd.DataFrame, height: int = 320) -> alt.LayerChart:
    """EmoteCloud: one bubble per emote, sized by use, the most used in the middle."""
    data = emotes.reset_index(drop=True).copy()
    # Golden-angle spiral: rank i sits at radius sqrt(i), so bubbles spread evenly.
    angle = data.index.to_series() * math.pi * (3 - math.sqrt(5))
    radius = data.index.to_series().pow(0.5)
    data["x"], data["y"] = radius * angle.map(math.cos), radius * angle.map(math.sin)
    # Fit the spiral to the chart, and the biggest bubble to the spacing between ranks.
    reach = math.sqrt(max(len(data) - 1, 0)) + 0.9
    unit = height / (2 * reach)
    biggest = math.pi * (0.75 * unit) ** 2
    hidden = alt.Axis(labels=False, ticks=False, grid=False, domain=False, title=None)
    base = alt.Chart(data).encode(
        x=alt.X("x:Q", axis=hidden, scale=alt.Scale(domain=[-reach * 1.5, reach * 1.5])),
        y=alt.Y("y:Q", axis=hidden, scale=alt.Scale(domain=[-reach, reach])),
        tooltip=["emote:N", alt.Tooltip("count:Q", title="Uses", format=",")],
    )
    bubbles = base.mark_circle(opacity=0.8).encode(
        size=alt.Size(
            "count:Q", legend=None, scale=alt.Scale(range=[biggest / 4, biggest], zero=False)
        ),
        color=alt.Color("emote:N", legend=None, scale=alt.Scale(scheme="tableau20")),
    )
    labels = base.mark_text(fontWeight="bold", fontSize=11).encode(text="emote:N")
    return (bubbles + labels).properties(height=height).configure_view(strokeWidth=0)


def revenue_bars(metrics: pd.DataFrame, tz: str) -> alt.Chart:
    """Revenue per minute, from the windows that tile time (no double counting)."""
    data = metrics[metrics["tiling"]].assign(t=local_naive(metrics["window_start"], tz))
    minute = _time_x("t", tz, data["t"], timeUnit="yearmonthdatehoursminutes")  # 1 bar/min
    return (
        alt.Chart(data)
        .mark_bar(color=COLORS["revenue"])
        .encode(
            x=minute,
            y=alt.Y("revenue:Q", title="Revenue"),
            tooltip=[alt.Tooltip("t:T", title="Minute from", format="%H:%M"),
                     alt.Tooltip("revenue:Q", format=",.2f"),
                     alt.Tooltip("tx_count:Q", title="Sales")],
        )
        .properties(height=200)
    )  # fmt: skip


def moment_context(metrics: pd.DataFrame, moment: pd.Series, tz: str) -> alt.LayerChart:
    """The metric that defines the moment's kind, around it, with the moment shaded."""
    field, title = KIND_METRIC.get(moment["kind"], ("chat_count", "Messages / min"))
    data = metrics.assign(t=local_naive(metrics["window_end"], tz))
    color = KIND_COLORS.get(moment["kind"], COLORS["neutral"])
    line = (
        alt.Chart(data)
        .mark_line(point=True, color=color)
        .encode(x=_time_x("t", tz, data["t"]), y=alt.Y(f"{field}:Q", title=title),
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
    return (band + line).properties(height=280)


def comparison_bars(df: pd.DataFrame, label_col: str, metrics: dict[str, str]) -> alt.FacetChart:
    """One small bar chart per metric (own scale each), one bar per compared item."""
    long = df.melt(id_vars=[label_col], value_vars=list(metrics), var_name="metric")
    long["metric"] = long["metric"].map(metrics)
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("value:Q", title=None),
            y=alt.Y(
                f"{label_col}:N",
                title=None,
                sort=list(df[label_col]),
                axis=alt.Axis(labelLimit=220),
            ),
            color=alt.Color(f"{label_col}:N", legend=None, scale=alt.Scale(scheme="tableau10")),
            tooltip=[f"{label_col}:N", "metric:N", alt.Tooltip("value:Q", format=",.2f")],
        )
        .properties(height=max(40, 26 * len(df)), width=260)
        .facet(facet=alt.Facet("metric:N", title=None, sort=list(metrics.values())), columns=3)
        .resolve_scale(x="independent")
    )
