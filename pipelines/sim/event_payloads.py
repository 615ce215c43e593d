"""Who says and pays what in one simulated channel: users, emotes, chat text, money.

``ChatRoom`` owns the channel's population and taste; ``event_sim.ChannelSim`` decides
when things happen and asks the room for payloads (the fields beside the envelope).
"""

from __future__ import annotations

import random
from bisect import bisect
from itertools import accumulate
from operator import itemgetter

from pipelines.sim import event_vocab as V
from pipelines.sim.model import NEG, NEU, POS, Moment

PHRASES = (V.POSITIVE_PHRASES, V.NEGATIVE_PHRASES, V.NEUTRAL_PHRASES)
SHARE_POSITIVE, SHARE_NEGATIVE = 0.30, 0.15  # of ordinary chat; the rest is neutral
SWING_SHARE = 0.85  # of chat during a sentiment swing
LURKER_SHARE = 0.6  # of highlight reactions: people who seldom chat speak up
EMOTE_ZIPF_S, USER_ZIPF_S = 1.2, 1.1


def cumulative(weights) -> tuple[list[float], float]:
    cw = list(accumulate(weights))
    return cw, cw[-1]


def pick(rng: random.Random, cw: tuple[list[float], float]) -> int:
    """Index drawn with the weights behind ``cw`` (from ``cumulative``)."""
    return bisect(cw[0], rng.random() * cw[1])


_TX_CW = cumulative(p for _, p in V.TX_MIX)
_SUB_CW = cumulative(p for *_, p in V.SUB_TIERS)
_GIFT_CW = cumulative(p for _, p in V.GIFT_COUNTS)
_BITS_CW = cumulative(p for _, p in V.BITS)
_CUR_CW = cumulative(share for _, share, _, _ in V.DONATION_CURRENCIES)
_AMT_CW = cumulative(V.DONATION_AMOUNT_WEIGHTS)
_REACTION_CW = cumulative(1 / r for r in range(1, len(V.REACTIONS) + 1))


class ChatRoom:
    """A channel's population, emote taste, title, and payload builders."""

    def __init__(self, rng: random.Random, stream_id: str, viewers: float) -> None:
        self.rng, self.sid = rng, stream_id
        self._population(rng, viewers)
        self._emote_table(rng)
        self.language = V.LANGUAGES[int(rng.random() * len(V.LANGUAGES))]
        self.new_title(change_category=True)

    def _population(self, rng: random.Random, viewers: float) -> None:
        size = min(6000, max(150, int(viewers * 0.4)))
        users, names = [], set()
        for i in range(size):
            name = V.NAME_HEADS[int(rng.random() * 20)] + V.NAME_TAILS[int(rng.random() * 20)]
            if name in names or rng.random() < 0.6:
                name += str(int(rng.random() * 10_000))
            while name in names:
                name += str(i % 10)
            names.add(name)
            badges = [b for b, share in V.BADGE_SHARES if rng.random() < share]
            users.append((str(10_000_000 + int(rng.random() * 989_999_999)), name, badges))
        # The broadcaster chats too, about as often as a regular.
        broadcaster = (str(int(rng.random() * 9_999_999)), self.sid, ["broadcaster"])
        users.insert(min(30, size), broadcaster)
        self.users = users
        self.user_cw = cumulative(1 / (r + 8) ** USER_ZIPF_S for r in range(len(users)))

    def _emote_table(self, rng: random.Random) -> None:
        # Channels differ a little in taste: shuffle within blocks of three ranks.
        order = list(V.EMOTES)
        for i in range(0, len(order), 3):
            block = order[i : i + 3]
            rng.shuffle(block)
            order[i : i + 3] = block
        self.emotes = order
        zipf = [1 / r**EMOTE_ZIPF_S for r in range(1, len(order) + 1)]
        # Zero weight drops an emote from a mood's table (bisect never lands on it).
        fits = {
            POS: lambda e: e not in V.SAD_EMOTES,
            NEG: lambda e: e in V.SAD_EMOTES,
            NEU: lambda e: True,
        }
        self.emote_cw = {
            cls: cumulative(w if fit(e) else 0.0 for e, w in zip(order, zipf, strict=True))
            for cls, fit in fits.items()
        }

    def new_title(self, change_category: bool) -> None:
        rng = self.rng
        if change_category:
            self.category = V.CATEGORIES[int(rng.random() * len(V.CATEGORIES))]
        template = V.TITLE_TEMPLATES[int(rng.random() * len(V.TITLE_TEMPLATES))]
        self.title = template.format(cat=self.category, n=1 + int(rng.random() * 300))

    def meta(self, status: str, started_at: str) -> dict:
        return {"status": status, "title": self.title, "category": self.category,
                "language": self.language, "started_at": started_at}  # fmt: skip

    def chat(self, m: Moment | None, kind: str) -> dict:
        """A chat payload; ``kind`` is the active moment's kind, or "raid_chat" for raiders."""
        rng = self.rng
        r = rng.random()
        if kind == "sentiment_swing":
            cls = m.polarity if r < SWING_SHARE else NEU
        else:
            cls = POS if r < SHARE_POSITIVE else NEG if r < SHARE_POSITIVE + SHARE_NEGATIVE else NEU
        phrases = PHRASES[cls]
        text = phrases[int(rng.random() * len(phrases))]
        if cls == NEU and rng.random() < 0.35:
            text = ""  # emote-only message
        emotes = []
        if not text or rng.random() < 0.4:
            cw = self.emote_cw[cls]
            emote = self.emotes[pick(rng, cw)]
            emotes = [emote] * (1 if rng.random() < 0.6 else 2 + int(rng.random() * 2))
            if rng.random() < 0.2:
                emotes.append(self.emotes[pick(rng, cw)])
        if kind == "raid_chat":
            raid = V.RAID_PHRASE.format(raider=m.raider)
            text = f"{raid} {text}" if text else raid
        message = " ".join([text, *emotes]) if text else " ".join(emotes)
        user_id, username, badges = self.users[pick(rng, self.user_cw)]
        return {"user_id": user_id, "username": username, "message": message,
                "emotes": emotes, "badges": badges}  # fmt: skip

    def user(self, lurker: bool = False) -> tuple[str, str, list[str]]:
        """A chatter: by activity (a few regulars say most), or any of the audience."""
        rng = self.rng
        if lurker:
            return self.users[int(rng.random() * len(self.users))]
        return self.users[pick(rng, self.user_cw)]

    def _payload(self, user, message: str, emotes: list[str]) -> dict:
        user_id, username, badges = user
        return {"user_id": user_id, "username": username, "message": message,
                "emotes": emotes, "badges": badges}  # fmt: skip

    def reaction(self, m: Moment) -> dict:
        """Chat reacting to a highlight: short, often the moment's hype emote, often a
        reaction many type alike, and more often than usual from people who seldom chat."""
        rng = self.rng
        emotes = [m.emote] * (1 + int(rng.random() * 3)) if rng.random() < 0.6 else []
        text = "" if emotes and rng.random() < 0.5 else V.REACTIONS[pick(rng, _REACTION_CW)]
        message = " ".join([text, *emotes]) if text else " ".join(emotes)
        return self._payload(self.user(rng.random() < LURKER_SHARE), message, emotes)

    def organic(self, kind: str, text: str, user=None) -> dict:
        """A message of an organic burst: a pasted wall of text, an emote train's emote,
        or a spammer's line (``user`` fixed)."""
        rng = self.rng
        if kind == "emote_train":
            emotes = [text] * (1 + int(rng.random() * 3))
            return self._payload(self.user(), " ".join(emotes), emotes)
        return self._payload(user or self.user(), text, [])

    def transaction(self) -> dict:
        rng = self.rng
        tx_type = V.TX_MIX[pick(rng, _TX_CW)][0]
        tx = {"user_id": self.users[int(rng.random() * len(self.users))][0], "tx_type": tx_type}
        if tx_type == "subscription":
            tier, price, _ = V.SUB_TIERS[pick(rng, _SUB_CW)]
            tx.update(amount=price, currency="USD", tier=tier)
        elif tx_type == "gift_sub":
            count = V.GIFT_COUNTS[pick(rng, _GIFT_CW)][0]
            tx.update(amount=round(count * V.GIFT_SUB_PRICE, 2), currency="USD", tier="1000",
                      gift_count=count)  # fmt: skip
        elif tx_type == "bits":
            tx.update(amount=V.BITS[pick(rng, _BITS_CW)][0] / 100, currency="USD")
        else:
            currency, _, amounts, _ = V.DONATION_CURRENCIES[pick(rng, _CUR_CW)]
            tx.update(amount=float(amounts[pick(rng, _AMT_CW)]), currency=currency)
        return tx

    def burst_transactions(
        self, start_ms: int, end_ms: int, target_usd: float
    ) -> tuple[list, float]:
        """USD donations and gift subs at random times in [start, end) worth >= target.

        Returns (``(ms, "transaction", payload)`` tuples latest first, total USD).
        """
        rng, txs, total = self.rng, [], 0.0
        while total < target_usd:
            user_id = self.users[int(rng.random() * len(self.users))][0]
            if rng.random() < 0.5:
                count = (5, 10, 20, 50)[int(rng.random() * 4)]
                amount = round(count * V.GIFT_SUB_PRICE, 2)
                tx = {"user_id": user_id, "tx_type": "gift_sub", "amount": amount,
                      "currency": "USD", "tier": "1000", "gift_count": count}  # fmt: skip
            else:
                amount = float((20, 50, 100, 200, 500)[int(rng.random() * 5)])
                tx = {"user_id": user_id, "tx_type": "donation", "amount": amount,
                      "currency": "USD"}  # fmt: skip
            total += amount
            ms = start_ms + int(rng.random() * (end_ms - start_ms))
            txs.append((ms, "transaction", tx))
        return sorted(txs, key=itemgetter(0), reverse=True), round(total, 2)
