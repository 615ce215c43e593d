"""The sentiment lexicon from its files: VADER's words (the installed vaderSentiment
package) and the Twitch emotes of ``conf/emote_sentiment.csv``, as the one small DataFrame
``pipelines.transforms.sentiment`` scores with."""

from __future__ import annotations

import csv
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from pipelines.jobs.spark import small_frame
from pipelines.transforms.sentiment import LEXICON_SCHEMA


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


def lexicon_df(spark: SparkSession, emote_csv_path: str | Path) -> DataFrame:
    """The scoring lexicon: VADER words and emotes in one small DataFrame (build it once)."""
    words = read_vader_lexicon(vader_lexicon_path())
    emotes = read_emote_lexicon(Path(emote_csv_path))
    rows = [(t, v, "word") for t, v in words.items()] + [(t, v, "emote") for t, v in emotes.items()]
    return small_frame(spark, rows, LEXICON_SCHEMA)
