"""Synthetic Twitch-style channels: seeded, pure Python, no Kafka.

``generate(channels, rate, start, end, seed, bad_ratio)`` returns an ``EventGenerator``:
an iterator of ``Record`` in event-time order across channels, plus the ground truth of
the moments it injected. Runs repeat exactly for the same arguments; each channel has
its own RNG seeded from ``(seed, stream_id)``, so splitting channels across processes
changes nothing.

Per channel, one simulated second at a time (``pipelines/sim/event_sim.py``):

- viewers: a mean-reverting multiplicative random walk around the channel's audience,
  sampled every 5 s (less often when ``rate`` < 2/s);
- chat: Poisson per second at a rate that follows the organic audience, times chat's own
  rhythm: an activity factor, log-AR(1) per second (memory 0.85, stationary sd 0.45 of
  the log, mean 1), so per-second counts are overdispersed and heavy-tailed, and a
  15-minute ramp-up from 40% at the start of a broadcast; users drawn from a per-channel
  population with Zipf-like activity; phrases VADER scores positive / negative / neutral;
  real emotes with Zipf popularity (``emotes`` lists every emote occurrence in the
  message);
- organic bursts that are *not* highlights and not in the truth (``organic_truth``): an
  emote train (about every 7 minutes, 5-14 s, chat x1.4-2.2 of one of the channel's top
  emotes), a copypasta wave (about every 15 minutes, 12-35 s, x1.2-1.8 of one long
  pasted text) and a lone spammer (about every 10 minutes, 20-60 s, a line every ~2 s);
- transactions: about 2% of ``rate`` (subscriptions, gift subs, bits, donations in the
  currencies of ``conf/currency_rates.csv``);
- stream_meta: ``live`` at the span start, a title/category change now and then, and
  ``offline`` at the span end (when there is one).

``rate`` is the average number of events per second of event time per channel, all types
together: the base chat rate is lowered by the extra chat the injected moments add
(exactly, in expectation, for a bounded span; by the long-run average for an unbounded one).

Injected moments (ground truth rows ``{"stream_id", "kind", "start", "end"}``, ISO UTC):
none in the first 12 minutes of the span (so a trailing baseline exists), then one every
~11 minutes (8-12 minutes from the end of one to the start of the next), kinds taken
from a shuffled cycle of the four, each ending at least a minute before the span ends.
``start``/``end`` bound the interval where the effect is injected:

- ``chat_spike``: a highlight as chat shows one: nothing for a 3-12 s reaction lag, then
  chat rises within 5 s to a peak of 1.5-4x and fades to half that over 20-90 s; the
  extra messages are short reactions ("LETS GO", "!!!!", "666", the moment's hype emote),
  typed alike by many, 60% of them by people who seldom chat; ``start`` is when the thing
  happened (before the lag), ``end`` when the reaction stops. No sentiment words, so it is
  not a sentiment swing (neutral reactions dilute chat's mood a little);
- ``raid``: viewers jump by +55-150% of everyone watching at ``start`` and stay up until
  ``end`` (60-120 s), then raiders drift away (10-minute decay); raiders add chat
  x1.1-1.2 ("raid from <name> is here ...") during the interval only, so a raid is never
  also a chat spike;
- ``revenue_burst``: ~60 s of USD donations and gift subs worth at least 15x the
  channel's expected per-minute revenue (and at least 150 USD);
- ``sentiment_swing``: 60-120 s where 85% of chat is negative (60% of swings) or
  positive, at the normal rate.

Bad input (``bad_ratio``): each chat/viewer/transaction event is replaced, with that
probability, by a bad record of one of ``BAD_KINDS`` (see ``event_faults``), tagged in
``Record.kind``. With ``bad_ratio > 0``, exact byte-for-byte re-sends of a recent good
record are added with probability ``bad_ratio / 5`` per event (``kind="duplicate"``);
they are not bad, silver's dedupe on event_id removes them. A record's ``ts_ms`` is when
it is due to be sent (a duplicate's payload keeps its original ``ts``).
"""

from __future__ import annotations

import heapq
from datetime import datetime
from operator import attrgetter

from pipelines.sim.event_codec import to_ms
from pipelines.sim.event_faults import BAD_KINDS
from pipelines.sim.event_sim import ChannelSim
from pipelines.sim.model import Moment, Record

GOOD = "good"
DUPLICATE = "duplicate"
RECORD_KINDS = (GOOD, DUPLICATE, *BAD_KINDS)

__all__ = [
    "BAD_KINDS",
    "DUPLICATE",
    "GOOD",
    "RECORD_KINDS",
    "EventGenerator",
    "Moment",
    "Record",
    "generate",
]


class EventGenerator:
    """Iterator of Records across channels in event-time order, with ground truth."""

    def __init__(
        self,
        channels: list[str],
        rate: float,
        start: datetime,
        end: datetime | None,
        seed: int | str,
        bad_ratio: float,
    ) -> None:
        if not channels or len(set(channels)) != len(channels):
            raise ValueError(f"channels must be non-empty and distinct, got {channels!r}")
        if rate <= 0:
            raise ValueError(f"rate must be > 0 events/s, got {rate}")
        if not 0 <= bad_ratio <= 1:
            raise ValueError(f"bad_ratio must be within [0, 1], got {bad_ratio}")
        start_ms = to_ms(start)
        end_ms = None if end is None else to_ms(end)
        if end_ms is not None and end_ms <= start_ms:
            raise ValueError("end must be after start")
        self.start_ms, self.end_ms = start_ms, end_ms
        self._sims = [ChannelSim(ch, rate, start_ms, end_ms, seed, bad_ratio) for ch in channels]
        self._merged = heapq.merge(*(s.records() for s in self._sims), key=attrgetter("ts_ms"))

    def __iter__(self) -> EventGenerator:
        return self

    def __next__(self) -> Record:
        return next(self._merged)

    @property
    def truth(self) -> list[Moment]:
        """Moments whose injected interval has been fully generated, by start time."""
        return sorted((m for s in self._sims for m in s.truth), key=attrgetter("start_ms"))

    @property
    def organic_truth(self) -> list[Moment]:
        """Chat's own bursts so far (emote trains, copypasta, spam): not highlights, and
        not in the truth file; benches count the moments found on them."""
        return sorted((m for s in self._sims for m in s.organic_truth), key=attrgetter("start_ms"))

    def truth_rows(self, until: datetime | None = None) -> list[dict]:
        """Ground-truth JSONL rows; with ``until``, only moments that ended by then."""
        limit = None if until is None else to_ms(until)
        return [m.to_row() for m in self.truth if limit is None or m.end_ms <= limit]

    def offline_records(self, at: datetime) -> list[Record]:
        """``status=offline`` stream_meta records, for a producer that stops early."""
        return [s.offline_record(to_ms(at)) for s in self._sims]


def generate(
    channels: list[str],
    rate: float,
    start: datetime,
    end: datetime | None,
    seed: int | str,
    bad_ratio: float = 0.0,
) -> EventGenerator:
    """Records for ``channels`` at ``rate`` events/s each over [start, end) (end=None: forever)."""
    return EventGenerator(channels, rate, start, end, seed, bad_ratio)
