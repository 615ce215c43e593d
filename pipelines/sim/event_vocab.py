"""Word lists and price tables the synthetic event generator draws from.

Kept apart from ``events.py`` so the simulation reads as logic. Chat phrases are grouped
by the sentiment VADER gives them (tests check that), so an injected sentiment swing is a
swing the silver layer can actually measure. Emotes are real Twitch / BTTV / FFZ / 7TV
names.
"""

from __future__ import annotations

# Most popular first: the generator draws them with Zipf weights by this order.
EMOTES = (
    "PogChamp",
    "KEKW",
    "LUL",
    "Kappa",
    "OMEGALUL",
    "monkaS",
    "Kreygasm",
    "BibleThump",
    "catJAM",
    "4Head",
    "ResidentSleeper",
    "Pog",
    "TriHard",
    "PepeHands",
    "NotLikeThis",
    "KomodoHype",
    "Jebaited",
    "SeemsGood",
    "DansGame",
    "HYPERS",
    "WutFace",
    "SwiftRage",
    "HeyGuys",
    "CurseLit",
    "CoolStoryBob",
    "FailFish",
    "BabyRage",
    "VoHiYo",
    "PJSalt",
)
# Which emotes go with which mood of message. Silver scores emotes too
# (conf/emote_sentiment.csv; tests check these groups agree with it), so a negative
# message carries sad emotes, not PogChamp.
HAPPY_EMOTES = frozenset(
    {"PogChamp", "KEKW", "LUL", "Kappa", "OMEGALUL", "Kreygasm", "4Head", "TriHard",
     "SeemsGood", "HeyGuys", "VoHiYo"}
)  # fmt: skip
SAD_EMOTES = frozenset(
    {"monkaS", "BibleThump", "ResidentSleeper", "PepeHands", "NotLikeThis", "Jebaited",
     "DansGame", "WutFace", "SwiftRage", "CoolStoryBob", "FailFish", "BabyRage", "PJSalt"}
)  # fmt: skip
# Hype emotes chat spams during a chat spike: real ones that carry no sentiment in either
# lexicon, so a spike adds volume without moving the sentiment of chat.
SPIKE_EMOTES = ("catJAM", "Pog", "KomodoHype", "HYPERS", "CurseLit")

# What chat types in the seconds after a highlight: short, loud, repeated by many. Text
# reactions beside the hype emotes above (no sentiment words, so a highlight is not a
# sentiment swing).
REACTIONS = ("!!!!", "?????", "666", "W", "WHAT", "no way", "CLIP IT", "clip it", "OMG",
             "holy", "LETS GO", "HUH", "yooo", "888")  # fmt: skip
# Organic bursts that are not highlights: a wall of text many paste, a lone spammer, a
# train of one emote. Made-up texts (no real copypasta).
COPYPASTAS = (
    "I have watched every stream since day one and I have never seen chat this calm, "
    "please everyone take a deep breath and enjoy the run",
    "hello fellow chatters this is your daily reminder to drink water stretch your legs and "
    "tell the streamer they are doing great",
    "when the streamer says one more game you know we are here for three more hours "
    "and honestly none of us are complaining",
    "chat if you are reading this you are legally required to post your favourite snack "
    "in the next ten seconds",
)
SPAM_TEXTS = ("first", "hi chat", "!drop", "follow me pls", "anyone here", "!uptime")

POSITIVE_PHRASES = (
    "I love this stream",
    "this is awesome",
    "great play",
    "that was amazing",
    "best stream ever",
    "nice one",
    "so much fun to watch",
    "lmao that was great",
    "beautiful shot",
    "wow what a play",
    "gg well played",
    "love the energy today",
    "awesome clutch",
    "this is so good",
    "you are the best",
    "great vibes in chat",
    "happy to be here",
    "that was hilarious",
)
NEGATIVE_PHRASES = (
    "this is boring",
    "I hate this game",
    "that was terrible",
    "worst stream ever",
    "so bad",
    "ugh the lag again",
    "this is a scam",
    "rigged game, hate it",
    "sad to see this",
    "awful decision",
    "what a terrible idea",
    "this is the worst",
    "so boring right now",
    "bad call, really bad",
    "I hate when this happens",
    "stop it, this is painful",
)
NEUTRAL_PHRASES = (
    "what is the song name",
    "first time here",
    "when is the next stream",
    "chat is moving fast",
    "is this ranked",
    "where are you from",
    "what rank is he",
    "how long is the stream today",
    "brb",
    "anyone here from yesterday",
    "which server is this",
    "what settings do you use",
    "back",
    "is this a new patch",
    "watching from the office",
    "what time is it there",
    "who is in the squad",
    "can you show the map",
)
RAID_PHRASE = "raid from {raider} is here"

CATEGORIES = (
    "Just Chatting",
    "League of Legends",
    "Valorant",
    "Fortnite",
    "Minecraft",
    "Counter-Strike",
    "Grand Theft Auto V",
    "Elden Ring",
    "Apex Legends",
    "Chess",
    "Music",
    "Art",
)
TITLE_TEMPLATES = (
    "{cat} grind until I drop | !socials",
    "chill {cat} with chat",
    "DAY {n} of {cat} | road to top 500",
    "{cat} tournament practice",
    "first time playing {cat}!!",
    "late night {cat} and vibes",
    "{cat} ranked, then viewer games",
)
LANGUAGES = ("en", "en", "en", "en", "es", "de", "fr", "pt", "ja", "ko", "sv", "pl")

NAME_HEADS = (
    "sleepy", "salty", "lucky", "cosmic", "silent", "rapid", "frosty", "mega", "tiny",
    "dark", "happy", "crispy", "lazy", "pixel", "toxic", "golden", "wild", "retro",
    "sneaky", "noble",
)  # fmt: skip
NAME_TAILS = (
    "otter", "gamer", "panda", "wizard", "falcon", "potato", "ninja", "taco", "viking",
    "goblin", "raccoon", "pilot", "knight", "ghost", "moose", "sniper", "mango", "wolf",
    "bard", "cactus",
)  # fmt: skip

# Badges a user carries and the share of users that carry them.
BADGE_SHARES = (("moderator", 0.015), ("vip", 0.02), ("subscriber", 0.35), ("premium", 0.05))

# ---- money ------------------------------------------------------------------------------
SUB_TIERS = (("1000", 4.99, 0.85), ("2000", 9.99, 0.10), ("3000", 24.99, 0.05))
GIFT_COUNTS = ((1, 0.50), (5, 0.30), (10, 0.15), (20, 0.05))
BITS = ((100, 0.40), (200, 0.20), (500, 0.20), (1000, 0.15), (5000, 0.05))
TX_MIX = (("subscription", 0.40), ("gift_sub", 0.10), ("bits", 0.35), ("donation", 0.15))

# Donation currencies (must stay within conf/currency_rates.csv), how often each is used,
# the round amounts donors pick in it, and a rough local-units-per-USD used only to size
# revenue (the silver layer converts with the real rate table).
DONATION_CURRENCIES = (
    ("USD", 0.50, (2, 5, 10, 20, 50, 100), 1.0),
    ("EUR", 0.14, (2, 5, 10, 20, 50, 100), 0.92),
    ("GBP", 0.08, (2, 5, 10, 20, 50, 100), 0.79),
    ("CAD", 0.06, (2, 5, 10, 20, 50, 100), 1.37),
    ("AUD", 0.04, (2, 5, 10, 20, 50, 100), 1.52),
    ("BRL", 0.06, (10, 25, 50, 100, 250, 500), 5.0),
    ("JPY", 0.04, (300, 500, 1000, 3000, 5000, 10000), 150.0),
    ("SEK", 0.02, (20, 50, 100, 200, 500, 1000), 10.5),
    ("PLN", 0.03, (10, 20, 50, 100, 200, 400), 4.0),
    ("MXN", 0.03, (50, 100, 200, 500, 1000, 2000), 17.0),
)
# How often donors pick each of the six amounts above.
DONATION_AMOUNT_WEIGHTS = (0.15, 0.35, 0.25, 0.15, 0.08, 0.02)
GIFT_SUB_PRICE = 4.99


def expected_tx_usd() -> float:
    """Mean USD value of one ordinary transaction under the mixes above."""
    sub = sum(price * p for _, price, p in SUB_TIERS)
    gift = sum(n * GIFT_SUB_PRICE * p for n, p in GIFT_COUNTS)
    bits = sum(b / 100 * p for b, p in BITS)
    donation = sum(
        share * sum(a / fx * w for a, w in zip(amounts, DONATION_AMOUNT_WEIGHTS, strict=True))
        for _, share, amounts, fx in DONATION_CURRENCIES
    )
    by_type = {"subscription": sub, "gift_sub": gift, "bits": bits, "donation": donation}
    return sum(by_type[t] * p for t, p in TX_MIX)
