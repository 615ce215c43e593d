"""Score detected moments against the producer's ground truth (its --truth-file JSONL).

A detected moment matches a labelled one of the same stream and kind when their intervals
overlap once the labelled interval is widened by ``tolerance_s`` on both sides. Each label is
matched at most once; precision = matched detections / detections, recall = matched labels /
labels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path


@dataclass(frozen=True)
class Interval:
    stream_id: str
    kind: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Score:
    detected: int
    labelled: int
    true_positives: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.detected if self.detected else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.labelled if self.labelled else 1.0


def _ts(value) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).replace(tzinfo=None)


def load_truth(path: Path) -> list[Interval]:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return [Interval(r["stream_id"], r["kind"], _ts(r["start"]), _ts(r["end"])) for r in rows]


def score(detected: list[Interval], labelled: list[Interval], tolerance_s: float = 30.0) -> Score:
    tol = timedelta(seconds=tolerance_s)
    unmatched = list(labelled)
    hits = 0
    for d in sorted(detected, key=lambda m: m.start):
        for label in unmatched:
            same = label.stream_id == d.stream_id and label.kind == d.kind
            if same and d.start <= label.end + tol and d.end >= label.start - tol:
                unmatched.remove(label)
                hits += 1
                break
    return Score(detected=len(detected), labelled=len(labelled), true_positives=hits)


def score_by_kind(
    detected: list[Interval], labelled: list[Interval], tolerance_s: float = 30.0
) -> dict[str, Score]:
    kinds = sorted({i.kind for i in detected} | {i.kind for i in labelled})
    return {
        k: score(
            [d for d in detected if d.kind == k], [x for x in labelled if x.kind == k], tolerance_s
        )
        for k in kinds
    }
