"""How good are the moments? Detected moments scored against labelled intervals.

Labels are what a person marked on a broadcast (or the producer's ``--truth-file``): a
stream, a start and an end, and optionally a kind. A detected moment *matches* a label
of the same stream when their intervals overlap once the label is widened by
``tolerance_s`` on both sides, and, if the label has a kind, the kinds agree. Moments are
matched in score order (highest first), each to the unmatched label it overlaps most, and
each label at most once. Then:

- precision = matched moments / moments, recall = matched labels / labels, F1 their
  harmonic mean (1.0 by convention when there is nothing to get wrong);
- precision@k: per stream, the share of its k highest-scored moments (or all, if fewer)
  that match, averaged over the streams with at least one moment: "are the clips at the
  top of the list worth watching?".

A label file is CSV (a header row), JSON (a list of objects, or ``{"labels": [...]}``) or
JSON Lines, with fields ``start``, ``end``, and optionally ``stream_id``, ``kind`` and
``broadcast_id``. ``start``/``end`` are ISO-8601 times (UTC unless they carry a zone), or
offsets from the broadcast's start as a VOD player shows them (``1:02:03``, ``02:03``, or
seconds): what someone labelling a video writes down.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

_OFFSET = re.compile(r"^(?:(\d+):)?(?:(\d{1,2}):)?(\d+(?:\.\d+)?)$")


class LabelError(ValueError):
    """A label file that cannot be read, with where and why."""


@dataclass(frozen=True)
class Interval:
    stream_id: str
    kind: str | None  # None: a label that matches a moment of any kind
    start: datetime  # UTC, naive
    end: datetime
    score: float = 0.0  # a detected moment's score (ranks precision@k)


@dataclass(frozen=True)
class Score:
    detected: int
    labelled: int
    matched_moments: int
    matched_labels: int

    @property
    def precision(self) -> float:
        return self.matched_moments / self.detected if self.detected else 1.0

    @property
    def recall(self) -> float:
        return self.matched_labels / self.labelled if self.labelled else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class Evaluation:
    overall: Score
    precision_at_k: float | None  # None: no stream has a moment
    k: int
    tolerance_s: float
    by_stream: dict[str, Score] = field(default_factory=dict)
    by_kind: dict[str, Score] = field(default_factory=dict)

    def as_dict(self) -> dict:
        def figures(s: Score) -> dict:
            return {"moments": s.detected, "labels": s.labelled,
                    "matched_moments": s.matched_moments, "matched_labels": s.matched_labels,
                    "precision": s.precision, "recall": s.recall, "f1": s.f1}  # fmt: skip

        return {
            **figures(self.overall),
            f"precision_at_{self.k}": self.precision_at_k,
            "tolerance_s": self.tolerance_s,
            "by_stream": {k: figures(v) for k, v in self.by_stream.items()},
            "by_kind": {k: figures(v) for k, v in self.by_kind.items()},
        }


# ---- matching -------------------------------------------------------------------------------
def _overlap(moment: Interval, label: Interval, tol: timedelta) -> timedelta | None:
    """How long the moment overlaps the widened label (None: not at all, or another
    stream or kind)."""
    if moment.stream_id != label.stream_id:
        return None
    if label.kind is not None and moment.kind != label.kind:
        return None
    lo, hi = max(moment.start, label.start - tol), min(moment.end, label.end + tol)
    return hi - lo if hi >= lo else None


def match(
    moments: list[Interval], labels: list[Interval], tolerance_s: float = 30.0
) -> tuple[set[int], set[int]]:
    """(indices of matched moments, indices of matched labels)."""
    tol = timedelta(seconds=tolerance_s)
    by_score = sorted(range(len(moments)), key=lambda i: (-moments[i].score, moments[i].start))
    taken: set[int] = set()
    matched: set[int] = set()
    for i in by_score:
        best, best_overlap = None, None
        for j, label in enumerate(labels):
            if j in taken:
                continue
            overlap = _overlap(moments[i], label, tol)
            if overlap is not None and (best_overlap is None or overlap > best_overlap):
                best, best_overlap = j, overlap
        if best is not None:
            taken.add(best)
            matched.add(i)
    return matched, taken


def score(moments: list[Interval], labels: list[Interval], tolerance_s: float = 30.0) -> Score:
    matched, taken = match(moments, labels, tolerance_s)
    return Score(len(moments), len(labels), len(matched), len(taken))


def evaluate(
    moments: list[Interval], labels: list[Interval], tolerance_s: float = 30.0, k: int = 10
) -> Evaluation:
    matched, _ = match(moments, labels, tolerance_s)
    streams = sorted({m.stream_id for m in moments} | {x.stream_id for x in labels})
    by_stream = {
        s: score([m for m in moments if m.stream_id == s],
                 [x for x in labels if x.stream_id == s], tolerance_s)
        for s in streams
    }  # fmt: skip
    kinds = sorted({m.kind for m in moments if m.kind} | {x.kind for x in labels if x.kind})
    by_kind = {
        kind: score([m for m in moments if m.kind == kind],
                    [x for x in labels if x.kind in (kind, None)], tolerance_s)
        for kind in kinds
    }  # fmt: skip
    at_k = []
    for s in streams:
        ranked = sorted((i for i, m in enumerate(moments) if m.stream_id == s),
                        key=lambda i: (-moments[i].score, moments[i].start))[:k]  # fmt: skip
        if ranked:
            at_k.append(sum(i in matched for i in ranked) / len(ranked))
    return Evaluation(
        overall=score(moments, labels, tolerance_s),
        precision_at_k=sum(at_k) / len(at_k) if at_k else None,
        k=k,
        tolerance_s=tolerance_s,
        by_stream=by_stream,
        by_kind=by_kind,
    )


# ---- label files ----------------------------------------------------------------------------
def _utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value.replace(tzinfo=None)


def parse_time(value, where: str) -> datetime | timedelta:
    """An ISO-8601 time (a datetime, UTC) or a VOD offset (a timedelta)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=float(value))
    text = str(value).strip()
    offset = _OFFSET.match(text)
    if offset:
        hours, minutes, seconds = offset.groups()
        if minutes is None and hours is not None:  # "MM:SS"
            hours, minutes = None, hours
        return timedelta(hours=int(hours or 0), minutes=int(minutes or 0),
                         seconds=float(seconds))  # fmt: skip
    try:
        return _utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise LabelError(
            f"{where}: {text!r} is neither an ISO-8601 time nor an offset like 1:02:03"
        ) from None


def _records(path: Path) -> list[tuple[str, dict]]:
    """(where, record) for each label of the file, where = "file:line" or "file[i]"."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelError(f"cannot read labels {path}: {exc}") from None
    stripped = text.lstrip()
    if not stripped:
        raise LabelError(f"{path}: no labels (the file is empty)")
    if stripped[0] in "[{":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None  # perhaps JSON Lines
        if data is not None:
            items = data.get("labels") if isinstance(data, dict) else data
            if isinstance(data, dict) and items is None:
                items = [data]  # a one-line JSON Lines file
            if not isinstance(items, list):
                raise LabelError(f"{path}: expected a list of labels")
            return [(f"{path}[{i}]", r) for i, r in enumerate(items)]
        out = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    out.append((f"{path}:{n}", json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise LabelError(f"{path}:{n}: not JSON ({exc.msg})") from None
        return out
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"start", "end"} <= {f.strip() for f in reader.fieldnames}:
        raise LabelError(f"{path}: a CSV label file needs a header with start and end")
    return [(f"{path}:{reader.line_num}", {k.strip(): v for k, v in row.items() if k})
            for row in reader]  # fmt: skip


def load_labels(
    path: Path,
    stream_id: str | None = None,
    broadcast_start: Callable[[str, str | None], datetime | None] | None = None,
) -> list[Interval]:
    """The labels of ``path``. A label without a stream gets ``stream_id``; with
    ``stream_id`` given, labels of other streams are left out. Offsets are turned into
    times with ``broadcast_start(stream_id, broadcast_id)``."""
    labels = []
    for where, r in _records(Path(path)):
        if not isinstance(r, dict):
            raise LabelError(f"{where}: a label is an object with start and end")
        sid = str(r.get("stream_id") or stream_id or "").strip()
        if not sid:
            raise LabelError(f"{where}: the label names no stream (give --stream)")
        if stream_id is not None and sid != stream_id:
            continue
        bounds = []
        for name in ("start", "end"):
            if r.get(name) in (None, ""):
                raise LabelError(f"{where}: no {name}")
            value = parse_time(r[name], where)
            if isinstance(value, timedelta):
                origin = broadcast_start(sid, r.get("broadcast_id")) if broadcast_start else None
                if origin is None:
                    raise LabelError(
                        f"{where}: {name} is an offset, but the broadcast of {sid} it counts "
                        "from is not known (give ISO times, or a broadcast_id)"
                    )
                value = _utc(origin) + value
            bounds.append(value)
        start, end = bounds
        if end < start:
            raise LabelError(f"{where}: end {end} is before start {start}")
        kind = str(r.get("kind") or "").strip() or None
        labels.append(Interval(sid, kind, start, end))
    return labels


def _as_utc(value) -> datetime:
    if hasattr(value, "to_pydatetime"):  # a pandas Timestamp
        value = value.to_pydatetime()
    return _utc(value)


def moments_from_rows(rows: Iterable[dict]) -> list[Interval]:
    """Detected moments from rows with stream_id, kind, start_ts, end_ts and score (the
    query layer's ``moments()``)."""
    return [
        Interval(r["stream_id"], r["kind"], _as_utc(r["start_ts"]), _as_utc(r["end_ts"]),
                 float(r["score"]))
        for r in rows
    ]  # fmt: skip
