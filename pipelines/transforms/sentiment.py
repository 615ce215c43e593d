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


def with_sentiment(
    df: DataFrame,
    lexicon: DataFrame,
    key: list[str],
    message_col: str = "message",
    where: Column | None = None,
) -> DataFrame:
    """Add ``sentiment`` (compound score) to every row of ``df``, keeping its columns.

    ``key`` must tell the rows apart. Only ``(key, message)`` is split into tokens and
    regrouped; the scores join back on ``key``, so no wide row is carried through the
    shuffle (regrouping whole rows ran a 10M-event rebuild out of heap). Rows where
    ``where`` is false get a null sentiment and no tokens.
    """
    scope = df if where is None else df.filter(where)
    tokens = scope.select(
        *key, F.explode_outer(F.split(F.col(message_col), r"\s+")).alias("_token")
    ).withColumn("_word", _vader_key(F.col("_token")))
    emotes = lexicon.filter(F.col("kind") == "emote").select(
        F.col("term").alias("_token"), F.col("valence").alias("_emote_valence")
    )
    words = lexicon.filter(F.col("kind") == "word").select(
        F.col("term").alias("_word"), F.col("valence").alias("_word_valence")
    )
    sums = (
        tokens.join(F.broadcast(emotes), on="_token", how="left")
        .join(F.broadcast(words), on="_word", how="left")
        .groupBy(*key)
        .agg(F.sum(F.coalesce(F.col("_emote_valence"), F.col("_word_valence"))).alias("_sum"))
    )
    score = compound(F.col("_sum"))
    return (
        df.join(sums, on=key, how="left")
        .withColumn("sentiment", score if where is None else F.when(where, score))
        .drop("_sum")
    )
