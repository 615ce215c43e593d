"""Every page of the Streamlit app under ``streamlit.testing`` AppTest, over the fixture
lake of ``gold_fixture`` (values worked out in ``test_queries.py``) and over an empty one."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from gold_fixture import at as at_time
from gold_fixture import (
    gold_lake,  # noqa: F401 (fixture)
    write_one_stream,
)
from streamlit.testing.v1 import AppTest

APP = "../streamlit_app/app.py"
PAGES = ["views/live.py", "views/broadcasts.py", "views/moments.py", "views/quality.py"]


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    if page != PAGES[0]:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.delta) for m in at.metric}


def charts(at: AppTest) -> list:
    return at.get("vega_lite_chart")


def chart_rows(chart) -> list[dict]:
    """Every data row a chart was sent (Streamlit ships the datasets as Arrow IPC)."""
    return [
        row
        for dataset in chart.proto.datasets
        for row in pa.ipc.open_stream(dataset.data.data).read_all().to_pylist()
    ]


@pytest.fixture
def lake_env(gold_lake, monkeypatch):  # noqa: F811
    monkeypatch.setenv("TELEMETRA_LAKE_ROOT", gold_lake)
    return gold_lake


@pytest.fixture
def empty_lake_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TELEMETRA_LAKE_ROOT", str(tmp_path / "empty-lake"))


def test_live_page_shows_the_live_stream_first(lake_env):
    at = open_page("views/live.py")
    assert at.title[0].value == "Live"
    assert at.selectbox(key="live_stream").value == "alpha"
    shown = metrics(at)
    # Newest window 300 viewers, 108 one minute before; 50 vs 14 messages; 35 vs 9 chatters.
    assert shown["Viewers"] == ("300", "192")
    assert shown["Messages / min"] == ("50", "36")
    assert shown["Chatters / min"] == ("35", "26")
    assert shown["Msgs / chatter"][0] == "1.43"  # 50 / 35
    assert shown["Sentiment"][0] == "+0.40"
    assert shown["Revenue (USD)"][0] == "35.00"
    assert any("newest event 2026-11-26 17:02:25 UTC" in m.value for m in at.markdown)
    shown_charts = charts(at)
    # chat flow, emote cloud, timeline, moment context, first-time/returning, revenue
    assert len(shown_charts) == 6
    emotes = {row["emote"]: row["count"] for row in chart_rows(shown_charts[1])}
    assert emotes == {"PogChamp": 28, "Kappa": 10, "LUL": 8}
    flow = [(r["series"], r["value"]) for r in chart_rows(shown_charts[0]) if "series" in r]
    assert ("Messages / min", 60) in flow and len(flow) == 2 * 8  # 8 windows, 2 series
    # a2's first message (17:00:40) is in the windows starting 17:00:00 .. 17:00:40; the
    # other chatters return (unique 8, 9, 10, 10, 12, 30, 40, 35).
    mix = [(r["series"], r["value"]) for r in chart_rows(shown_charts[4]) if "series" in r]
    assert [v for s, v in mix if s == "First-time"] == [1, 1, 1, 1, 1, 0, 0, 0]
    assert [v for s, v in mix if s == "Returning"] == [7, 8, 9, 9, 11, 30, 40, 35]
    timeline = json.loads(shown_charts[2].proto.spec)
    assert any(p.get("name") == "moment" for p in timeline.get("params", []))
    # The timeline's moment strip holds alpha's two moments; the raid is shown first.
    assert at.selectbox(key="live_moment").value == "m-alpha-raid"
    assert any("raid hype!" in str(df.value.values) for df in at.dataframe)
    # A chat spike's context says how many more people chatted: windows starting in
    # [17:00:50, 17:01:20) peak at 40 chatters; before it 8, 9, 10, 10, 12 (median 10).
    at.selectbox(key="live_moment").select("m-alpha-chat").run()
    assert not at.exception
    rise = [c.value for c in at.caption if c.value.startswith("Chatters per minute")]
    assert rise and rise[0].startswith(
        "Chatters per minute: 40 at the peak against 10 before (4.0×)"
    )


def open_live_page_of_one_stream(spark, lake, monkeypatch, last_event, windows) -> AppTest:
    """The Live page over a lake of one live stream, s1, with its newest event and its
    windows (laid out as in ``write_one_stream``)."""
    write_one_stream(
        spark, str(lake), ("s1", "live", "t", "c", "en", at_time(9, 0), last_event), windows
    )
    monkeypatch.setenv("TELEMETRA_LAKE_ROOT", str(lake))
    return open_page("views/live.py")


def test_live_page_when_the_newest_window_has_no_viewer_count(spark, tmp_path, monkeypatch):
    # Right after start-up a window can hold chat but no viewer event yet (null viewers);
    # that once broke the page (a null in the viewers sparkline).
    at = open_live_page_of_one_stream(spark, tmp_path / "lake", monkeypatch, at_time(10, 2, 15), [
        ("s1", at_time(10, 0), at_time(10, 1), 44.0, 46, 45, 4, 3, 0.0, 0, 0, None, 0, None),
        ("s1", at_time(10, 1), at_time(10, 2), 60.0, 71, 70, 8, 5, 0.0, 0, 0, None, 0, None),
        ("s1", at_time(10, 1, 10), at_time(10, 2, 10), None, None, None, 9, 6, 0.0, 0, 0, None, 0,
         None),
    ])  # fmt: skip
    # The newest counted window (10:01:00, 70) against one length before it (10:00:00, 45).
    assert metrics(at)["Viewers"] == ("70", "25")
    assert metrics(at)["Messages / min"] == ("9", "5")  # 10:01:10 against 10:00:00 (4)
    assert not any("still filling" in c.value for c in at.caption)


def test_live_page_in_a_streams_first_minute_says_the_window_is_still_filling(
    spark, tmp_path, monkeypatch
):
    # Newest event 10:00:30: the one window (10:00:00-10:01:00) is not complete yet.
    at = open_live_page_of_one_stream(spark, tmp_path / "lake", monkeypatch, at_time(10, 0, 30), [
        ("s1", at_time(10, 0), at_time(10, 1), 44.0, 46, 45, 4, 3, 0.0, 0, 0, None, 0, None),
    ])  # fmt: skip
    assert metrics(at)["Viewers"] == ("45", "")  # no window a minute before
    assert any("still filling: these counts cover 30 s" in c.value for c in at.caption)


def test_live_stream_picker_changes_the_data(lake_env):
    at = open_page("views/live.py")
    at.selectbox(key="live_stream").select("beta").run()
    assert not at.exception
    shown = metrics(at)
    assert shown["Viewers"] == ("25", "-16")
    assert shown["Revenue (USD)"][0] == "104.99"
    assert any("offline" in m.value for m in at.markdown)


def test_live_stream_without_metrics_explains_itself(lake_env):
    at = open_page("views/live.py")
    at.selectbox(key="live_stream").select("gamma").run()
    assert not at.exception
    assert not at.metric
    assert any("No minute metrics" in i.value for i in at.info)


def test_time_zone_picker_moves_the_times(lake_env):
    at = open_page("views/live.py")
    at.selectbox(key="tz").select("Europe/Berlin").run()
    assert not at.exception
    # 17:02:25 UTC is 18:02:25 in Berlin (CET, UTC+1, in November).
    assert any("newest event 2026-11-26 18:02:25 CET" in m.value for m in at.markdown)


def test_broadcasts_page_summaries_and_comparisons(lake_env):
    at = open_page("views/broadcasts.py")
    assert at.title[0].value == "Broadcasts"
    shown = metrics(at)
    assert shown["Broadcasts"][0] == "2"
    assert shown["Best peak"][0] == "500"
    assert shown["Revenue, all broadcasts"][0] == "285.00 USD"  # 35.00 + 250.00
    summary = at.dataframe[0].value
    assert summary["broadcast_id"].tolist() == ["alpha-20261126T1630", "alpha-20261125T1800"]
    compared = at.dataframe[1].value
    assert compared["broadcast_id"].tolist() == ["alpha-20261126T1630", "alpha-20261125T1800"]
    streams = at.dataframe[2].value
    assert streams["stream_id"].tolist() == ["alpha", "gamma", "beta"]
    assert streams["messages"].tolist() == [72, 0, 7]

    at.selectbox(key="broadcasts_stream").select("beta").run()
    assert not at.exception
    assert metrics(at)["Broadcasts"][0] == "1"
    assert at.dataframe[0].value["revenue"].tolist() == [104.99]


def test_moments_page_filters_and_details(lake_env):
    at = open_page("views/moments.py")
    assert at.title[0].value == "Moments"
    assert any(c.value == "3 of 3 moments" for c in at.caption)
    table = at.dataframe[0].value
    assert table["moment_id"].tolist() == ["m-alpha-raid", "m-alpha-chat", "m-beta-rev"]
    assert any("raid hype!" in str(df.value.values) for df in at.dataframe[1:])
    # Offsets into each broadcast's video: alpha's started 16:30, beta's 12:00.
    assert table["vod_start"].tolist() == ["30:50", "30:50", "1:00:00"]
    assert table["vod_peak"].tolist() == ["31:00", "31:00", "1:00:00"]
    # Export CSV for the list; markers for the selected moment's broadcast; its two
    # moments 0 s apart make one chapter after 0:00, too few for YouTube, and it says so.
    assert len(at.get("download_button")) == 2
    assert any("YouTube chapters need at least three" in c.value for c in at.caption)

    at.multiselect(key="m_kinds").select("revenue_burst").run()
    assert not at.exception
    assert any(c.value == "1 of 3 moments" for c in at.caption)
    assert at.dataframe[0].value["moment_id"].tolist() == ["m-beta-rev"]

    at.slider(key="m_score").set_value(5.0).run()
    assert any("No moments match" in i.value for i in at.info)


def test_quality_page_explains_its_empty_state(lake_env):
    at = open_page("views/quality.py")
    assert at.title[0].value == "Data quality"
    assert "quality_runs" in at.info[0].value


@pytest.mark.parametrize("page", PAGES)
def test_every_page_on_an_empty_lake_shows_the_empty_state(empty_lake_env, page):
    at = open_page(page)
    assert not at.metric
    assert not charts(at)
    messages = " ".join(i.value for i in at.info)
    expected = "No validation results" if page.endswith("quality.py") else "No data yet"
    assert expected in messages
