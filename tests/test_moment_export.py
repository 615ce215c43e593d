"""Moments as VOD offsets, a CSV and YouTube chapters (YouTube's rules, checked by hand)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pipelines.serving.moment_export import (
    ExportMoment,
    moments_csv,
    vod_offset,
    youtube_chapters,
)

START = datetime(2026, 11, 26, 17, 0)


def _m(kind, start_s, seconds=60, score=5.0, emotes=()):
    at = START + timedelta(seconds=start_s)
    return ExportMoment(kind, at, at + timedelta(seconds=20), at + timedelta(seconds=seconds),
                        score, tuple(emotes))  # fmt: skip


def test_offsets_read_like_a_video_player():
    assert vod_offset(START + timedelta(seconds=5), START) == "0:05"
    assert vod_offset(START + timedelta(minutes=12, seconds=3), START) == "12:03"
    assert vod_offset(START + timedelta(hours=2, minutes=3, seconds=4), START) == "2:03:04"
    assert vod_offset(START - timedelta(seconds=30), START) == "0:00"


def test_chapters_follow_youtubes_rules():
    moments = [_m("raid", 3725), _m("chat_spike", 600, emotes=["Pog"]),
               _m("sentiment_swing", 605)]  # 5 s after the spike: left out  # fmt: skip
    assert youtube_chapters(moments, START) == (
        "0:00 Stream starts\n10:00 Chat goes wild (Pog)\n1:02:05 Raid\n"
    )


def test_too_few_chapters_give_none():
    assert youtube_chapters([_m("raid", 600)], START) is None
    assert youtube_chapters([_m("raid", 5), _m("raid", 600)], START) is None  # 0:05 too close


def test_csv_has_offsets_beside_utc():
    text = moments_csv([_m("raid", 3725, score=7.5, emotes=["Kappa", "LUL"])], START)
    assert text.splitlines() == [
        "kind,vod_start,vod_peak,vod_end,start_utc,end_utc,score,top_emotes",
        "raid,1:02:05,1:02:25,1:03:05,2026-11-26T18:02:05,2026-11-26T18:03:05,7.50,Kappa LUL",
    ]
