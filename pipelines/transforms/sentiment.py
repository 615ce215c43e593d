"""Chat sentiment: VADER's lexicon plus Twitch emotes, scored with Spark built-ins.

The lexicon is one small DataFrame (``term``, ``valence``, ``kind``) built once per job from
the installed vaderSentiment package's ``vader_lexicon.txt`` and ``conf/emote_sentiment.csv``.
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

import csv
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema
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


def vader_lexicon_path() -> Path:
    import vaderSentiment

    return Path(vaderSentiment.__file__).parent / "vader_lexicon.txt"


def read_vader_lexicon(path: Path) -> dict[str, float]:
    """token -> mean valence, as vaderSentiment builds it (a later line wins).

    VADER looks tokens up lowercased, so entries with capitals (``:D``) can never match
    there; they are left out here too.
    """
    words: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.strip().split("\t")
        if len(parts) >= 2 and parts[0] == parts[0].lower():
            words[parts[0]] = float(parts[1])
    return words


def read_emote_lexicon(path: Path) -> dict[str, float]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return {row["emote"].strip(): float(row["valence"]) for row in rows}


def small_frame(spark: SparkSession, rows: list[tuple], schema: StructType) -> DataFrame:
    """A driver-side table as a DataFrame held in the JVM (through Arrow): scanning it
    needs no Python worker, unlike ``createDataFrame(list)``, which is slow on every join."""
    import pyarrow as pa

    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in schema.fields]
    arrow_schema = to_arrow_schema(schema)
    table = pa.Table.from_arrays(
        [pa.array(list(c), f.type) for c, f in zip(columns, arrow_schema, strict=True)],
        schema=arrow_schema,
    )
    return spark.createDataFrame(table, schema)


def lexicon_df(spark: SparkSession, emote_csv_path: str | Path) -> DataFrame:
    """The scoring lexicon: VADER words and emotes in one small DataFrame (build it once)."""
    words = read_vader_lexicon(vader_lexicon_path())
    emotes = read_emote_lexicon(Path(emote_csv_path))
    rows = [(t, v, "word") for t, v in words.items()] + [(t, v, "emote") for t, v in emotes.items()]
    return small_frame(spark, rows, LEXICON_SCHEMA)


def _vader_key(token: Column) -> Column:
    stripped = F.regexp_replace(token, r"^\p{Punct}+|\p{Punct}+$", "")
    return F.lower(F.when(F.length(stripped) <= 2, token).otherwise(stripped))


def compound(valence_sum: Column) -> Column:
    """VADER's normalisation of a summed valence into [-1, 1]; no hits (null) -> 0.0."""
    score = valence_sum / F.sqrt(valence_sum * valence_sum + F.lit(VADER_ALPHA))
    return F.coalesce(score, F.lit(0.0))


def with_sentiment(df: DataFrame, lexicon: DataFrame, message_col: str = "message") -> DataFrame:
    """Add ``sentiment`` (compound score) to every row of ``df``, keeping its columns."""
    columns = df.columns
    # The id is given to each input row before the explode (in the same select it would be
    # evaluated per token), so identical rows are not merged by the regrouping below.
    tokens = (
        df.select(
            F.monotonically_increasing_id().alias("_rid"),
            F.struct(*[F.col(c) for c in columns]).alias("_row"),
        )
        .select(
            "_rid",
            "_row",
            F.explode_outer(F.split(F.col(f"_row.{message_col}"), r"\s+")).alias("_token"),
        )
        .withColumn("_word", _vader_key(F.col("_token")))
    )
    emotes = lexicon.filter(F.col("kind") == "emote").select(
        F.col("term").alias("_token"), F.col("valence").alias("_emote_valence")
    )
    words = lexicon.filter(F.col("kind") == "word").select(
        F.col("term").alias("_word"), F.col("valence").alias("_word_valence")
    )
    scored = (
        tokens.join(F.broadcast(emotes), on="_token", how="left")
        .join(F.broadcast(words), on="_word", how="left")
        .groupBy("_rid", "_row")
        .agg(F.sum(F.coalesce(F.col("_emote_valence"), F.col("_word_valence"))).alias("_sum"))
    )
    return scored.select(
        *[F.col(f"_row.{c}").alias(c) for c in columns], compound(F.col("_sum")).alias("sentiment")
    )
