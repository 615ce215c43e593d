"""Moments a creator can jump to: offsets into the broadcast's video, a CSV, and YouTube
chapters.

A moment's *VOD offset* is its time minus the start of its broadcast, written as a video
player writes it (``1:02:03``, or ``2:03`` under an hour). The chapters follow YouTube's
rules for a description's timestamps: the first at ``0:00``, at least three, in order,
each at least 10 seconds after the one before (a moment closer than that to the previous
chapter is left out), titles under 50 characters.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

CHAPTER_MIN_SECONDS = 10
CHAPTER_TITLE_MAX = 49
KIND_TITLES = {
    "chat_spike": "Chat goes wild",
    "raid": "Raid",
    "revenue_burst": "Money rains",
    "sentiment_swing": "Mood swing",
}


@dataclass(frozen=True)
class ExportMoment:
    kind: str
    start: datetime
    peak: datetime | None
    end: datetime
    score: float
    top_emotes: tuple[str, ...] = ()


def vod_offset(at: datetime, broadcast_start: datetime) -> str:
    """``at`` as a video player's time into the broadcast; never negative."""
    seconds = max(0, int((at - broadcast_start).total_seconds()))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def chapter_title(m: ExportMoment) -> str:
    title = KIND_TITLES.get(m.kind, m.kind)
    if m.top_emotes:
        title = f"{title} ({m.top_emotes[0]})"
    return title[:CHAPTER_TITLE_MAX]


def youtube_chapters(
    moments: Iterable[ExportMoment], broadcast_start: datetime, opening: str = "Stream starts"
) -> str | None:
    """A description block of chapters, one moment per chapter at its start; None when
    fewer than three chapters would remain (YouTube would ignore the list)."""
    lines, last = [f"0:00 {opening}"], 0
    for m in sorted(moments, key=lambda m: m.start):
        at = int((m.start - broadcast_start).total_seconds())
        if at - last < CHAPTER_MIN_SECONDS:
            continue
        lines.append(f"{vod_offset(m.start, broadcast_start)} {chapter_title(m)}")
        last = at
    return "\n".join(lines) + "\n" if len(lines) >= 3 else None


CSV_COLUMNS = ("kind", "vod_start", "vod_peak", "vod_end", "start_utc", "end_utc", "score",
               "top_emotes")  # fmt: skip


def moments_csv(moments: Iterable[ExportMoment], broadcast_start: datetime) -> str:
    """One row per moment, by start: VOD offsets beside UTC times."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for m in sorted(moments, key=lambda m: m.start):
        writer.writerow([
            m.kind,
            vod_offset(m.start, broadcast_start),
            vod_offset(m.peak, broadcast_start) if m.peak else "",
            vod_offset(m.end, broadcast_start),
            m.start.isoformat(),
            m.end.isoformat(),
            f"{m.score:.2f}",
            " ".join(m.top_emotes),
        ])  # fmt: skip
    return out.getvalue()
