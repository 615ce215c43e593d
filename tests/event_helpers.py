"""Shared by the generator tests: a fixed start, parsed timelines, window look-ups."""

from __future__ import annotations

import csv
import json
import math
import string
from bisect import bisect_left
from collections import defaultdict
from datetime import datetime, timedelta, timezone

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from pipelines.config import CONF_DIR
from pipelines.sim.events import generate

START = datetime(2026, 3, 1, 20, 0, tzinfo=timezone.utc)


def ts_of(event: dict) -> datetime:
    return datetime.fromisoformat(event["ts"].replace("Z", "+00:00"))


def run(channels, rate=10.0, minutes=30, seed=7, bad_ratio=0.0):
    gen = generate(channels, rate, START, START + timedelta(minutes=minutes), seed, bad_ratio)
    return gen, list(gen)


class Timeline(list):
    """A stream's parsed events in time order, with their times for window look-ups."""

    def __init__(self, events):
        super().__init__(events)
        self.times = [ts_of(e) for e in events]


def parsed_run(channels, rate, minutes, seed):
    """(timelines by stream, ground-truth rows, records) of one generator run."""
    gen, records = run(channels, rate=rate, minutes=minutes, seed=seed)
    by_stream = defaultdict(list)
    for rec in records:
        by_stream[rec.key].append(json.loads(rec.value))
    return {k: Timeline(v) for k, v in by_stream.items()}, gen.truth_rows(), records


def between(events: Timeline, event_type, lo: datetime, hi: datetime) -> list[dict]:
    window = events[bisect_left(events.times, lo) : bisect_left(events.times, hi)]
    return [e for e in window if e["event_type"] == event_type]


def read_csv(name: str) -> list[dict]:
    with open(CONF_DIR / name, newline="") as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


def emote_aware_scorer():
    """Lexicon-sum sentiment with emote valences, the way silver scores chat (by hand here)."""
    words = SentimentIntensityAnalyzer().lexicon
    emotes = {row["emote"]: float(row["valence"]) for row in read_csv("emote_sentiment.csv")}

    def score(message: str) -> float:
        tokens = message.split()
        s = sum(emotes.get(t, words.get(t.strip(string.punctuation).lower(), 0.0)) for t in tokens)
        return s / math.sqrt(s * s + 15)

    return score
