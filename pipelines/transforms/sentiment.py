"""Chat sentiment: VADER's lexicon plus Twitch emotes, scored with Spark built-ins.

The lexicon is one small DataFrame (``term``, ``valence``, ``kind``: :data:`LEXICON_SCHEMA`)
built once per job by ``pipelines.jobs.lexicon`` from the installed vaderSentiment
package's ``vader_lexicon.txt`` and ``conf/emote_sentiment.csv``.
Scoring is a join, not a Python UDF:

- a message is split on whitespace into tokens;
- a token that is an emote (matched case-sensitively, as Twitch renders them) takes the
  emote's valence; otherwise VADER's rule applies: strip surrounding ASCII punctuation
  (keeping the token as is when two or fewer characters remain, so ``:)`` survives),
  lowercase, look up;
- the valences of a message are summed to ``s`` and normalised as VADER does,
  ``compound = s / sqrt(s² + 15)``; a message without a lexicon hit scores 0.0.

:func:`valences` gives the tokens' valences; whoever sums them regroups narrow rows (a key
and a number), never the messages' whole rows (silver:
``pipelines.transforms.silver.chat_valence``).

VADER's negation, booster-word, ALL-CAPS, "but" and punctuation-emphasis rules are not
applied: the score is the lexicon-sum part of VADER only. Positive means
compound ≥ 0.05, negative ≤ −0.05 (VADER's recommended thresholds).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StringType, StructField, StructType

POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05
# VADER's normalisation constant (vaderSentiment.normalize, alpha=15).
VADER_ALPHA = 15.0

LEXICON_SCHEMA = StructType(
    [
        StructField("term", StringType(), False),
        StructField("valence", DoubleType(), False),
        StructField("kind", StringType(), False),  # "word" (VADER) or "emote"
    ]
)


def _vader_key(token: Column) -> Column:
    stripped = F.regexp_replace(token, r"^\p{Punct}+|\p{Punct}+$", "")
    return F.lower(F.when(F.length(stripped) <= 2, token).otherwise(stripped))


def compound(valence_sum: Column) -> Column:
    """VADER's normalisation of a summed valence into [-1, 1]; no hits (null) -> 0.0."""
    score = valence_sum / F.sqrt(valence_sum * valence_sum + F.lit(VADER_ALPHA))
    return F.coalesce(score, F.lit(0.0))


def valences(
    rows: DataFrame, lexicon: DataFrame, key: list[str], message_col: str = "message"
) -> DataFrame:
    """One row per token of each message in ``rows``: ``key`` and the token's ``valence``
    (null when the lexicon has no entry); broadcast joins on the lexicon, no shuffle. A
    message's score is :func:`compound` of the sum of its tokens' valences."""
    tokens = rows.select(
        *key, F.explode_outer(F.split(F.col(message_col), r"\s+")).alias("_token")
    ).withColumn("_word", _vader_key(F.col("_token")))
    emotes = lexicon.filter(F.col("kind") == "emote").select(
        F.col("term").alias("_token"), F.col("valence").alias("_emote_valence")
    )
    words = lexicon.filter(F.col("kind") == "word").select(
        F.col("term").alias("_word"), F.col("valence").alias("_word_valence")
    )
    return (
        tokens.join(F.broadcast(emotes), on="_token", how="left")
        .join(F.broadcast(words), on="_word", how="left")
        .select(*key, F.coalesce("_emote_valence", "_word_valence").alias("valence"))
    )
