"""Chat sentiment (pipelines/transforms/sentiment.py): lexicon building and the join-based score
(token valences, summed and normalised as silver does).

Lexicon values used by hand below (vader_lexicon.txt 3.3.2 / conf/emote_sentiment.csv):
love 3.2, boring -1.3, terrible -2.1, lol 1.8 (its second line wins over 2.9),
PogChamp 2.5, BibleThump -2.0. "i", "this", "stream", "is", "and", "hello" have no entry.
"""

from __future__ import annotations

import math

import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from pipelines.config import CONF_DIR
from pipelines.jobs.lexicon import (
    lexicon_df,
    read_emote_lexicon,
    read_vader_lexicon,
    vader_lexicon_path,
)
from pipelines.jobs.spark import small_frame as frame
from pipelines.transforms.sentiment import compound, valences

MESSAGES = StructType([StructField("id", StringType()), StructField("message", StringType())])


@pytest.fixture(scope="module")
def lexicon(spark):
    return lexicon_df(spark, CONF_DIR / "emote_sentiment.csv")


@pytest.fixture(scope="module")
def scores(spark, lexicon):
    rows = [
        ("pos", "I love this stream PogChamp"),
        ("neg", "this is boring and terrible BibleThump"),
        ("hello", "hello"),
        ("null", None),
        ("empty", ""),
        ("case", "pogchamp LOVE"),  # emotes are case-sensitive, words are not
        ("punct", "love!!!"),
        ("emoticon", ":("),
        ("twin", "hello"),  # a second identical-message row must stay a row
        ("twin2", "hello"),
    ]
    tokens = valences(frame(spark, rows, MESSAGES), lexicon, key=["id"])
    out = tokens.groupBy("id").agg(compound(F.sum("valence")).alias("sentiment")).collect()
    assert len(out) == len(rows)
    return {r["id"]: r["sentiment"] for r in out}


def test_lexicon_files_parse_like_vader():
    words = read_vader_lexicon(vader_lexicon_path())
    assert words["love"] == 3.2
    assert words["lol"] == 1.8  # the later of its two lines, as vaderSentiment's dict keeps
    assert ":D" not in words  # never matched: VADER looks tokens up lowercased
    emotes = read_emote_lexicon(CONF_DIR / "emote_sentiment.csv")
    assert emotes["PogChamp"] == 2.5
    assert emotes["BibleThump"] == -2.0
    assert emotes["ResidentSleeper"] == -1.5
    assert emotes["NotLikeThis"] == -1.5


def test_positive_message(scores):
    assert scores["pos"] >= 0.05
    # love 3.2 + PogChamp 2.5 = 5.7; 5.7 / sqrt(5.7² + 15) = 5.7 / sqrt(47.49) = 0.827130
    assert scores["pos"] == pytest.approx(0.827130, abs=1e-6)


def test_negative_message(scores):
    assert scores["neg"] <= -0.05
    # boring -1.3 + terrible -2.1 + BibleThump -2.0 = -5.4; -5.4 / sqrt(44.16) = -0.812605
    assert scores["neg"] == pytest.approx(-0.812605, abs=1e-6)


def test_no_lexicon_hit_scores_zero(scores):
    assert scores["hello"] == 0.0
    assert scores["null"] == 0.0
    assert scores["empty"] == 0.0
    assert scores["twin"] == 0.0


def test_tokens_are_matched_like_vader(scores):
    # "pogchamp" is no emote; "LOVE" is love: 3.2 / sqrt(10.24 + 15)
    assert scores["case"] == pytest.approx(3.2 / math.sqrt(25.24), abs=1e-9)
    assert scores["punct"] == pytest.approx(3.2 / math.sqrt(25.24), abs=1e-9)
    # ":(" is kept whole (stripping would leave nothing) and is in VADER at -1.9
    assert scores["emoticon"] == pytest.approx(-1.9 / math.sqrt(1.9**2 + 15), abs=1e-9)
