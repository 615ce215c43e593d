"""What ``notebooks/exploration.ipynb`` computes, kept out of its cells.

Gold is read through ``GoldQueries`` (the app's query layer); the threshold sweep re-runs
the gold job's own moment detection (``pipelines.transforms.gold_moments``) on the silver window
aggregates with changed ``moment_*`` settings. No SQL here, and nothing the
pipeline computes is computed a second way. When there is nothing to show, functions
return or carry a ``Note`` (a one-line message that renders as Markdown) instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pandas as pd

from pipelines.serving.queries import GoldQueries

_BUCKET_MINUTES = (1, 2, 5, 10, 15, 30, 60, 120, 360)
MOMENT_COLUMNS = ["moment_id", "kind", "start_ts", "end_ts", "peak_ts", "peak_value", "score"]


@dataclass(frozen=True)
class Note:
    """A message in place of a result; notebooks render it as Markdown."""

    text: str

    def _repr_markdown_(self) -> str:
        return f"> {self.text}"

    def __repr__(self) -> str:
        return self.text


@dataclass
class StreamData:
    """One stream's recent gold data: windows starting in [start, end) and its moments."""

    lake_root: str
    stream_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    metrics: pd.DataFrame = field(default_factory=pd.DataFrame)
    moments: pd.DataFrame = field(default_factory=pd.DataFrame)
    message: str | None = None  # why there is nothing to show

    @property
    def empty(self) -> bool:
        return self.message is not None

    def note(self) -> Note:
        if self.empty:
            return Note(self.message)
        kinds = self.moments["kind"].value_counts().items() if len(self.moments) else []
        by_kind = ", ".join(f"{n} {kind}" for kind, n in kinds)
        return Note(
            f"Lake `{self.lake_root}`: stream **{self.stream_id}**, "
            f"{self.start:%Y-%m-%d %H:%M} to {self.end:%H:%M} UTC, "
            f"{len(self.metrics)} windows, {len(self.moments)} moments"
            + (f" ({by_kind})" if by_kind else "")
        )


def load_stream(
    queries: GoldQueries, stream_id: str | None = None, hours: float = 6.0
) -> StreamData:
    """The last ``hours`` of ``stream_id`` (None: the first of ``list_streams``, live ones
    first, then the most recently active)."""
    data = StreamData(queries.lake_root)
    streams = queries.list_streams()
    if streams.empty:
        data.message = streams.attrs.get("message") or (
            f"No streams in the lake at {queries.lake_root} yet. "
            "Run the producer and the pipeline (`telemetra up`) first."
        )
        return data
    known = list(streams["stream_id"])
    if stream_id is not None and stream_id not in known:
        data.message = f"Stream {stream_id!r} is not in the lake; known streams: {known}."
        return data
    data.stream_id = stream_id or known[0]
    last = streams.set_index("stream_id").at[data.stream_id, "last_event_ts"]
    data.end = last.to_pydatetime() if pd.notna(last) else datetime.now(timezone.utc)
    data.start = data.end - timedelta(hours=hours)
    data.metrics = queries.minute_metrics(data.stream_id, data.start, data.end, with_emotes=True)
    data.moments = queries.moments([data.stream_id], start=data.start, end=data.end)
    if data.metrics.empty:
        data.message = (
            data.metrics.attrs.get("message")
            or f"Stream {data.stream_id!r} has no windows in the {hours:g} h before {data.end}."
        )
    else:  # a stream younger than ``hours``: start where its data starts
        data.start = max(data.start, data.metrics["window_start"].min().to_pydatetime())
    return data


def moment_table(data: StreamData) -> pd.DataFrame | Note:
    """The stream's gold moments in the span, oldest first, with their chat context."""
    if data.empty:
        return data.note()
    if data.moments.empty:
        return Note(f"Gold holds no moments for {data.stream_id} in this span.")
    columns = [*MOMENT_COLUMNS[1:], "top_emotes", "sample_messages"]
    return data.moments.sort_values("start_ts", ignore_index=True)[columns]


def tiling(metrics: pd.DataFrame) -> pd.DataFrame:
    """Windows that tile time once (see ``pipelines.serving.queries``): for sums and
    scatter plots."""
    return metrics[metrics["tiling"]]


def emote_trend(
    queries: GoldQueries, data: StreamData, top: int = 6, buckets: int = 40
) -> pd.DataFrame:
    """(bucket_start, emote, count): uses of the span's ``top`` emotes per time bucket.

    Counted from each tiling window's top-emote list, so an emote outside a window's top
    ``top_emotes`` counts as 0 there: a lower bound for the less used ones."""
    if data.empty:
        return pd.DataFrame(columns=["bucket_start", "emote", "count"])
    leaders = queries.top_emotes(data.stream_id, data.start, data.end, limit=top)["emote"]
    windows = tiling(data.metrics)[["window_start", "top_emotes"]].explode("top_emotes")
    windows = windows.dropna(subset=["top_emotes"])
    uses = pd.DataFrame(
        {
            "window_start": windows["window_start"].to_numpy(),
            "emote": [e["emote"] for e in windows["top_emotes"]],
            "count": [e["count"] for e in windows["top_emotes"]],
        }
    )
    uses = uses[uses["emote"].isin(set(leaders))]
    wanted = (data.end - data.start).total_seconds() / 60 / buckets
    size = pd.Timedelta(minutes=next((m for m in _BUCKET_MINUTES if m >= wanted), 1440))
    uses["bucket_start"] = uses["window_start"].dt.floor(size)
    trend = uses.groupby(["bucket_start", "emote"], as_index=False)["count"].sum()
    trend.attrs["bucket"] = size
    trend.attrs["order"] = list(leaders)
    return trend


def sentiment_viewer_correlation(data: StreamData, min_messages: int) -> float | None:
    """Pearson r of mean sentiment and average viewers over tiling windows with at least
    ``min_messages`` messages (sentiment of a handful of messages is noise)."""
    if data.empty:
        return None
    windows = tiling(data.metrics)
    windows = windows[windows["chat_count"] >= min_messages].dropna(
        subset=["sentiment_mean", "avg_viewers"]
    )
    if len(windows) < 3:
        return None
    return float(windows["sentiment_mean"].corr(windows["avg_viewers"]))


def threshold_summary(found: pd.DataFrame, setting: str = "moment_chat_z") -> pd.DataFrame | Note:
    """Moments found per kind (rows) at each threshold value (columns)."""
    if found.empty:
        return Note(found.attrs.get("message", "Nothing found."))
    counts = pd.crosstab(found["kind"], found[setting]).rename_axis(columns=setting)
    counts.loc["all kinds"] = counts.sum()
    return counts


def threshold_membership(
    found: pd.DataFrame, gold_moments: pd.DataFrame, setting: str = "moment_chat_z"
) -> pd.DataFrame | Note:
    """One row per distinct moment (kind, start and end: a lower threshold can start a
    moment earlier or end it later, which makes it another moment), its best score, the
    values that find it, and whether gold (the configured thresholds) holds exactly it."""
    if found.empty:
        return Note(found.attrs.get("message", "Nothing found."))
    keys = ["moment_id", "kind", "start_ts", "end_ts"]
    table = found.groupby(keys, as_index=False).agg(
        score=("score", "max"), found_at=(setting, sorted)
    )
    in_gold = set(
        zip(gold_moments.get("moment_id", []), gold_moments.get("end_ts", []), strict=True)
    )
    table["in_gold"] = [
        (m, e) in in_gold for m, e in zip(table["moment_id"], table["end_ts"], strict=True)
    ]
    return table.sort_values(["start_ts", "end_ts", "kind"], ignore_index=True).drop(
        columns="moment_id"
    )
