"""One simulated channel, a second of event time at a time (see ``events.py`` for semantics).

Speed matters here (the producer wants >= 50k records/s from one process), so the hot
loop uses plain tuples, bisect over precomputed cumulative weights and a cached
timestamp prefix rather than per-event objects or ``random.choices``.
"""

from __future__ import annotations

import json
import math
import random
from collections import deque
from collections.abc import Iterator
from operator import itemgetter

from pipelines.core.contract import MOMENT_KINDS
from pipelines.sim import event_vocab as V
from pipelines.sim.event_codec import TsFormatter, encode_payload, format_ts
from pipelines.sim.event_faults import BAD_KINDS, make_bad
from pipelines.sim.event_payloads import ChatRoom
from pipelines.sim.model import NEG, POS, Moment, Record

WARMUP_MS = 12 * 60_000  # no moment before this, so detectors have a trailing baseline
GAP_S = (480, 600)  # from the end of one moment to the start of the next
TAIL_MS = 60_000  # moments end at least this long before the span does
# Chat's own rhythm (see ``events.py``): a per-second activity factor, log-AR(1) with mean
# 1, so per-second counts are overdispersed and heavy-tailed like real chat's.
ACTIVITY_PHI, ACTIVITY_SD = 0.85, 0.45  # memory per second; stationary sd of the log
_ACTIVITY_INNOV = ACTIVITY_SD * math.sqrt(1 - ACTIVITY_PHI**2)
# The evening arc: chat and viewers ramp up over the first minutes of a broadcast.
RAMP_S, RAMP_FROM = 900, 0.4
# Organic bursts, not highlights: (kind, start probability per second, length s, rate x).
ORGANIC = (
    ("emote_train", 1 / 420, (5, 14), (1.4, 2.2)),
    ("copypasta", 1 / 900, (12, 35), (1.2, 1.8)),
    ("spam", 1 / 600, (20, 60), (1.0, 1.0)),  # one user, about a message every 2 s
)
ORGANIC_EXTRA = sum(p * sum(n) / 2 * (sum(f) / 2 - 1) for _, p, n, f in ORGANIC)
# Highlights (chat_spike): chat reacts after a lag, peaks at 1.5-4x for 20-90 s.
SPIKE_PEAK, SPIKE_SECONDS, SPIKE_LAG_S = (1.5, 4.0), (20, 90), (3, 12)
START_JITTER_S = (0, 120)  # added to each gap
# Long-run extra chat from moments per second, for spans without an end: one cycle of the
# four kinds adds a spike (about 1.2x its rate over 55 s) and a raid (+15% for ~90 s)
# over ~2730 s.
MOMENT_EXTRA = (1.2 * 55 + 0.15 * 90) / (4 * (sum(GAP_S) + sum(START_JITTER_S)) / 2 + 330)
META_P = 1 / 1800  # a title/category change about every 30 minutes
RAID_DECAY_S = 600  # raiders drift away after the raid
OU_THETA, OU_SD = 1 / 180, 0.08  # viewers: reversion rate (1/s), stationary sd of log
CHAT_AUDIENCE_EXP = 0.5  # chat ~ audience^0.5 (bigger rooms lurk more)


def _spike_shape(m: Moment, sec: int) -> float:
    """How much of a highlight's peak chat shows ``sec`` seconds after it starts: nothing
    during the reaction lag, a 5-second rise, then a slow fade to half by its end."""
    since = sec - m.lag_s
    if since < 0:
        return 0.0
    length = (m.end_ms - m.start_ms) / 1000 - m.lag_s
    rise = min(1.0, (since + 1) / 5)
    return rise * (1.0 - 0.5 * min(1.0, since / max(length, 1.0)))


_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)
_first = itemgetter(0)


def poisson(rng: random.Random, lam: float) -> int:
    """Poisson draw: Knuth's product method for small means, normal beyond 30."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, int(rng.gauss(lam, math.sqrt(lam)) + 0.5))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class ChannelSim:
    """The events of one channel over [start_ms, end_ms) (end None: unbounded)."""

    def __init__(
        self,
        stream_id: str,
        rate: float,
        start_ms: int,
        end_ms: int | None,
        seed: int | str,
        bad_ratio: float,
    ) -> None:
        self.sid, self.start_ms, self.end_ms = stream_id, start_ms, end_ms
        self.rng = rng = random.Random(f"{seed}:{stream_id}")
        # Faults get their own RNG so bad_ratio never changes the simulation itself.
        self.bad_rng = random.Random(f"{seed}:{stream_id}:bad")
        self.bad_ratio, self.dup_ratio = bad_ratio, bad_ratio / 5
        self.recent: deque[tuple[str, bytes]] = deque(maxlen=256)
        self.fmt = TsFormatter()
        self.sid_json = json.dumps(stream_id, ensure_ascii=False)
        self.truth: list[Moment] = []

        self.mu = rng.uniform(math.log(300), math.log(20_000))
        self.x = self.mu + rng.gauss(0, OU_SD / 2)
        self.audience = 1.0
        self.raid_boost = 0.0
        self.viewer_every = 5 if rate >= 2 else max(5, round(10 / rate))
        dt = self.viewer_every
        self.ou_a, self.ou_b = OU_THETA * dt, OU_SD * math.sqrt(2 * OU_THETA * dt)
        self.raid_decay = math.exp(-dt / RAID_DECAY_S)
        self.phase_ms = int(rng.random() * 1000)
        self.tx_rate = 0.02 * rate
        chat_rate = max(rate - 1 / self.viewer_every - self.tx_rate, 0.0)
        self.revenue_per_min = self.tx_rate * 60 * V.expected_tx_usd()
        self.room = ChatRoom(rng, stream_id, math.exp(self.mu))
        self.started_at = format_ts(start_ms)
        self.activity = rng.gauss(0.0, ACTIVITY_SD)
        self.organic: list | None = None  # [kind, seconds left, rate x, text, user]
        self.organic_truth: list[Moment] = []

        self._kinds: list[str] = []
        self.upcoming: deque[Moment] = deque()
        span_s = None if end_ms is None else (end_ms - start_ms) / 1000
        if span_s is None:
            self._schedule(start_ms + WARMUP_MS)
            self.chat_base = chat_rate / (1 + ORGANIC_EXTRA + MOMENT_EXTRA)
        else:
            self._schedule_all()
            extra = sum(self._extra_chat_s(m) for m in self.upcoming)
            arc = sum(self._arc(sec) for sec in range(int(span_s)))
            self.chat_base = chat_rate * span_s / (arc * (1 + ORGANIC_EXTRA) + extra)

    # ---- moments ---------------------------------------------------------------------------
    def _schedule_all(self) -> None:
        after = self.start_ms + WARMUP_MS
        while (m := self._schedule(after)) is not None:
            after = m.end_ms + 1000 * self.rng.randint(*GAP_S)

    def _schedule(self, after_ms: int) -> Moment | None:
        rng = self.rng
        if not self._kinds:
            self._kinds = list(MOMENT_KINDS)
            rng.shuffle(self._kinds)
        kind = self._kinds.pop()
        start = after_ms + 1000 * rng.randint(*START_JITTER_S)
        dur_s = rng.randint(50, 70) if kind == "revenue_burst" else rng.randint(60, 120)
        end = start + 1000 * dur_s
        if self.end_ms is not None and end > self.end_ms - TAIL_MS:
            return None
        m = Moment(self.sid, kind, start, end)
        if kind == "chat_spike":
            m.factor = rng.uniform(*SPIKE_PEAK)
            m.emote = V.SPIKE_EMOTES[int(rng.random() * len(V.SPIKE_EMOTES))]
            m.lag_s = rng.randint(*SPIKE_LAG_S)
            end = start + 1000 * (m.lag_s + rng.randint(*SPIKE_SECONDS))
            if self.end_ms is not None and end > self.end_ms - TAIL_MS:
                return None
            m.end_ms = end
        elif kind == "raid":
            m.factor, m.chat_extra = rng.uniform(0.55, 1.5), rng.uniform(0.1, 0.2)
            m.raider = V.NAME_HEADS[int(rng.random() * 20)] + V.NAME_TAILS[int(rng.random() * 20)]
        elif kind == "sentiment_swing":
            m.polarity = NEG if rng.random() < 0.6 else POS
        else:
            target = max(15 * self.revenue_per_min, 150.0)
            m.txs, m.total_usd = self.room.burst_transactions(start, end, target)
        self.upcoming.append(m)
        return m

    @staticmethod
    def _extra_chat_s(m: Moment) -> float:
        dur = (m.end_ms - m.start_ms) / 1000
        if m.kind == "chat_spike":
            return (m.factor - 1) * sum(_spike_shape(m, s) for s in range(int(dur)))
        return m.chat_extra * dur if m.kind == "raid" else 0.0

    @staticmethod
    def _arc(sec: int) -> float:
        """The broadcast's ramp-up: chat and viewers start at RAMP_FROM of their level."""
        return 1.0 if sec >= RAMP_S else RAMP_FROM + (1 - RAMP_FROM) * sec / RAMP_S

    # ---- the clock ------------------------------------------------------------------------
    def records(self) -> Iterator[Record]:
        sid, bad_rng, recent = self.sid, self.bad_rng, self.recent
        bad_ratio, dup_ratio = self.bad_ratio, self.dup_ratio
        yield self._record(self.start_ms, "stream_meta", self.room.meta("live", self.started_at))
        t, sec, active = self.start_ms, 0, None
        while self.end_ms is None or t < self.end_ms:
            if active is not None and t >= active.end_ms:
                self._close(active)
                active = None
            if active is None and self.upcoming and t >= self.upcoming[0].start_ms:
                active = self.upcoming.popleft()
                self._open(active)
            for ms, etype, payload in self._tick(t, sec, active):
                if bad_ratio and etype != "stream_meta" and bad_rng.random() < bad_ratio:
                    kind = BAD_KINDS[int(bad_rng.random() * len(BAD_KINDS))]
                    topic_type, value = make_bad(self._event(ms, etype, payload), kind, bad_rng, ms)
                    yield Record(topic_type, sid, value, ms, kind)
                else:
                    record = self._record(ms, etype, payload)
                    if dup_ratio:
                        recent.append((etype, record.value))
                    yield record
                if dup_ratio and recent and bad_rng.random() < dup_ratio:
                    topic_type, value = recent[int(bad_rng.random() * len(recent))]
                    yield Record(topic_type, sid, value, ms, "duplicate")
            t += 1000
            sec += 1
        if active is not None:
            self._close(active)
        yield self.offline_record(self.end_ms - 1)

    def offline_record(self, at_ms: int) -> Record:
        return self._record(at_ms, "stream_meta", self.room.meta("offline", self.started_at))

    def _open(self, m: Moment) -> None:
        if m.kind == "raid":
            # Relative to everyone watching now, raiders of an earlier raid included.
            self.raid_boost += m.factor * (math.exp(self.x) + self.raid_boost)

    def _close(self, m: Moment) -> None:
        self.truth.append(m)
        if self.end_ms is None and not self.upcoming:
            self._schedule(m.end_ms + 1000 * self.rng.randint(*GAP_S))

    def _uuid(self) -> str:
        bits = self.rng.getrandbits(128) & _UUID_CLEAR | _UUID_SET
        h = f"{bits:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def _event(self, ms: int, etype: str, payload: dict) -> dict:
        event = {"event_id": self._uuid(), "event_type": etype, "stream_id": self.sid,
                 "ts": self.fmt(ms), "schema_version": 1}  # fmt: skip
        event.update(payload)
        return event

    def _record(self, ms: int, etype: str, payload: dict) -> Record:
        # The bytes encode_event(self._event(...)) would give, without building the dict:
        # the envelope's values are JSON-safe by construction (stream_id is pre-encoded).
        head = (
            f'{{"event_id":"{self._uuid()}","event_type":"{etype}","stream_id":{self.sid_json},'
            f'"ts":"{self.fmt(ms)}","schema_version":1,'
        )
        return Record(etype, self.sid, head.encode() + encode_payload(payload)[1:], ms, "good")

    def _tick(self, t: int, sec: int, m: Moment | None) -> list[tuple[int, str, dict]]:
        rng, room, out = self.rng, self.room, []
        kind = m.kind if m is not None else ""
        if sec % self.viewer_every == 0:
            out.append((t + self.phase_ms, "viewer", {"viewer_count": self._viewers(kind)}))
        self.activity = ACTIVITY_PHI * self.activity + _ACTIVITY_INNOV * rng.gauss(0.0, 1.0)
        lam = (self.chat_base * self.audience * self._arc(sec)
               * math.exp(self.activity - ACTIVITY_SD**2 / 2))  # fmt: skip
        for _ in range(poisson(rng, lam)):
            out.append((t + int(rng.random() * 1000), "chat", room.chat(m, kind)))
        out += self._organic(t, lam)
        if kind == "chat_spike":
            extra = lam * (m.factor - 1) * _spike_shape(m, (t - m.start_ms) // 1000)
            for _ in range(poisson(rng, extra)):
                out.append((t + int(rng.random() * 1000), "chat", room.reaction(m)))
        if kind == "raid":
            for _ in range(poisson(rng, self.chat_base * self.audience * m.chat_extra)):
                out.append((t + int(rng.random() * 1000), "chat", room.chat(m, "raid_chat")))
        for _ in range(poisson(rng, self.tx_rate)):
            out.append((t + int(rng.random() * 1000), "transaction", room.transaction()))
        if kind == "revenue_burst":
            while m.txs and m.txs[-1][0] < t + 1000:
                out.append(m.txs.pop())
        if sec > 60 and rng.random() < META_P:
            room.new_title(change_category=rng.random() < 0.3)
            meta = room.meta("live", self.started_at)
            out.append((t + int(rng.random() * 1000), "stream_meta", meta))
        if len(out) > 1:
            out.sort(key=_first)
        return out

    def _organic(self, t: int, lam: float) -> list[tuple[int, str, dict]]:
        """This second's messages of an organic burst (one at a time, none in a moment's
        warm-up): ``lam`` more chat times its factor, or a lone spammer."""
        rng, room = self.rng, self.room
        if self.organic is None:
            r = rng.random()
            for kind, p, length, factor in ORGANIC:
                if r >= p:
                    r -= p
                    continue
                n = rng.randint(*length)
                text = {"emote_train": lambda: room.emotes[int(rng.random() * 8)],
                        "copypasta": lambda: V.COPYPASTAS[int(rng.random() * len(V.COPYPASTAS))],
                        "spam": lambda: V.SPAM_TEXTS[int(rng.random() * len(V.SPAM_TEXTS))],
                        }[kind]()  # fmt: skip
                user = room.user() if kind == "spam" else None
                self.organic = [kind, n, rng.uniform(*factor), text, user]
                self.organic_truth.append(Moment(self.sid, kind, t, t + 1000 * n))
                break
            else:
                return []
        kind, left, factor, text, user = self.organic
        self.organic[1] -= 1
        if self.organic[1] <= 0:
            self.organic = None
        count = poisson(rng, 0.5) if kind == "spam" else poisson(rng, lam * (factor - 1))
        return [(t + int(rng.random() * 1000), "chat", room.organic(kind, text, user))
                for _ in range(count)]  # fmt: skip

    def _viewers(self, kind: str) -> int:
        rng = self.rng
        self.x += self.ou_a * (self.mu - self.x) + self.ou_b * rng.gauss(0.0, 1.0)
        self.audience = math.exp(CHAT_AUDIENCE_EXP * (self.x - self.mu))
        if kind != "raid":
            self.raid_boost *= self.raid_decay
        organic = math.exp(self.x) * (1 + rng.gauss(0.0, 0.004))
        return max(0, int(organic + self.raid_boost))
