"""The notebook helpers' pandas side, on inline frames (no Spark; the notebook test runs
the rest end to end)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from pipelines.jobs import explore
from pipelines.serving import exploration as ex
from pipelines.serving import exploration_charts as charts
from pipelines.serving.queries import GoldQueries

UTC = timezone.utc
T0 = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)


def minute(n: float) -> pd.Timestamp:
    return pd.Timestamp(T0 + timedelta(minutes=n))


def stream_data(rows: list[dict], minutes: int = 10) -> ex.StreamData:
    return ex.StreamData(
        "lake", "alpha", T0, T0 + timedelta(minutes=minutes), pd.DataFrame(rows), pd.DataFrame()
    )


def window(start: float, tiling: bool = True, **values) -> dict:
    return {"window_start": minute(start), "tiling": tiling, **values}


class TopEmotes:
    """Stands in for GoldQueries.top_emotes (tested in test_queries.py)."""

    def __init__(self, emotes: list[str]) -> None:
        self.emotes = emotes

    def top_emotes(self, stream_id, start, end, limit):
        return pd.DataFrame({"emote": self.emotes[:limit]})


def test_an_empty_lake_gives_a_message_everywhere(base_settings, tmp_path):
    data = ex.load_stream(GoldQueries(str(tmp_path / "lake")))
    assert data.empty and data.message.startswith("No data yet")
    for shown in (
        data.note(),
        ex.moment_table(data),
        charts.chat_rate(data),
        charts.emote_trends(ex.emote_trend(None, data), data),
        charts.sentiment_vs_viewers(data, 30, None),
        ex.threshold_summary(explore.moments_at_thresholds(None, base_settings, data)),
    ):
        assert isinstance(shown, ex.Note) and "No data yet" in shown._repr_markdown_()


def test_emote_trend_sums_tiling_windows_of_the_leaders_per_bucket():
    data = stream_data(
        [
            window(0, top_emotes=[{"emote": "Pog", "count": 3}, {"emote": "LUL", "count": 1}]),
            window(0.5, tiling=False, top_emotes=[{"emote": "Pog", "count": 99}]),
            window(1, top_emotes=[{"emote": "Pog", "count": 2}, {"emote": "Kappa", "count": 5}]),
            window(2, top_emotes=[]),
            window(5, top_emotes=[{"emote": "LUL", "count": 4}]),
        ]
    )
    # 10 minutes in 5 buckets: 2-minute buckets; Kappa is not among the 2 leaders.
    trend = ex.emote_trend(TopEmotes(["Pog", "LUL", "Kappa"]), data, top=2, buckets=5)
    expected = pd.DataFrame(
        {
            "bucket_start": [minute(0), minute(0), minute(4)],
            "emote": ["LUL", "Pog", "LUL"],
            "count": [1, 5, 4],
        }
    )
    pd.testing.assert_frame_equal(trend.reset_index(drop=True), expected, check_dtype=False)
    assert trend.attrs["bucket"] == pd.Timedelta(minutes=2)
    assert trend.attrs["order"] == ["Pog", "LUL"]


def test_correlation_uses_tiling_windows_with_enough_messages():
    rows = [
        window(0, chat_count=40, avg_viewers=100.0, sentiment_mean=0.1),
        window(1, chat_count=40, avg_viewers=200.0, sentiment_mean=0.2),
        window(2, chat_count=40, avg_viewers=300.0, sentiment_mean=0.3),
        window(3, chat_count=5, avg_viewers=400.0, sentiment_mean=-0.9),  # too few messages
        window(3.5, tiling=False, chat_count=40, avg_viewers=50.0, sentiment_mean=0.9),
        window(4, chat_count=40, avg_viewers=None, sentiment_mean=0.5),  # no viewers
    ]
    assert ex.sentiment_viewer_correlation(stream_data(rows), 30) == pytest.approx(1.0)
    assert ex.sentiment_viewer_correlation(stream_data(rows[:2]), 30) is None  # under 3


def found_rows() -> pd.DataFrame:
    # The same spike: from 20:01 at z 3 and 4, from 20:02 at z 8 (gold's), and a raid.
    rows = [
        (3.0, "s-early", "chat_spike", minute(1), minute(4), 40.0),
        (4.0, "s-early", "chat_spike", minute(1), minute(4), 40.0),
        (8.0, "s-late", "chat_spike", minute(2), minute(4), 40.0),
        (3.0, "r", "raid", minute(6), minute(8), 1.2),
        (8.0, "r", "raid", minute(6), minute(8), 1.2),
    ]
    return pd.DataFrame(
        rows, columns=["moment_chat_z", "moment_id", "kind", "start_ts", "end_ts", "score"]
    )


def test_threshold_summary_counts_kinds_per_value():
    counts = ex.threshold_summary(found_rows())
    assert counts.to_dict() == {
        3.0: {"chat_spike": 1, "raid": 1, "all kinds": 2},
        4.0: {"chat_spike": 1, "raid": 0, "all kinds": 1},
        8.0: {"chat_spike": 1, "raid": 1, "all kinds": 2},
    }


def test_membership_lists_each_distinct_moment_and_whether_gold_holds_it():
    gold = pd.DataFrame(
        {"moment_id": ["s-late", "r"], "end_ts": [minute(4), minute(9)]}  # r ends later in gold
    )
    table = ex.threshold_membership(found_rows(), gold)
    assert table[["kind", "start_ts", "found_at", "in_gold"]].values.tolist() == [
        ["chat_spike", minute(1), [3.0, 4.0], False],
        ["chat_spike", minute(2), [8.0], True],
        ["raid", minute(6), [3.0, 8.0], False],
    ]


def test_the_baseline_length_is_not_swept(base_settings):
    with pytest.raises(ValueError, match="not a threshold"):
        explore.moments_at_thresholds(
            None, base_settings, stream_data([]), "moment_baseline_seconds", [300]
        )
