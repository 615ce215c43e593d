"""A TwitchDownloader chat file through the real broker and Spark into gold.

``telemetra replay``'s code publishes tests/fixtures/chat_logs/twitchdownloader.json twice
(the second import must add nothing), the pipeline catches up with availableNow, and the
broadcast's summary has the counts, emotes and revenue read off the file by hand.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from kafka_helpers import with_fresh_topics
from lake_checks import read_table

from pipelines.jobs import runner
from pipelines.sources.replay import replay

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
TD = Path(__file__).parent / "fixtures" / "chat_logs" / "twitchdownloader.json"


def test_an_imported_vod_chat_lands_in_gold(spark, kafka_broker, tmp_path):
    settings = with_fresh_topics(kafka_broker, tmp_path, "import")
    first = replay(settings, TD, max_speed=True)
    second = replay(settings, TD, max_speed=True)
    # live + 3 chats + bits + a resub + offline; comment 4 has no commenter.
    assert first.sent == second.sent == 7
    assert [n for n, _ in first.skipped] == [4]
    runner.run_stream(spark, settings, "all", {"availableNow": True})

    # The second import is the same events again: silver holds each once. The copies
    # arrive after the stream reached 19:00 (the first import's offline): the offline
    # copy is a duplicate, the six before it are late; nothing is added.
    chat = read_table(spark, settings, "silver", "chat_messages").collect()
    assert sorted(r.message for r in chat) == [
        "Cheer100 nice move 日本語 🎉", "PogChamp PogChamp", "hi Kappa",
    ]  # fmt: skip
    reasons = Counter(
        r.reason for r in read_table(spark, settings, "silver", "quarantine").collect()
    )
    assert reasons == {"late": 6, "duplicate": 1}

    (summary,) = read_table(spark, settings, "gold", "stream_summary").collect()
    utc = timezone.utc
    assert summary.stream_id == "chess_club"
    assert (summary.started_at.astimezone(utc), summary.ended_at.astimezone(utc)) == (
        datetime(2026, 11, 20, 18, tzinfo=utc), datetime(2026, 11, 20, 19, tzinfo=utc),
    )  # fmt: skip
    assert (summary.title, summary.category) == ("Blitz night ♟", "Chess")
    assert (summary.messages, summary.unique_chatters, summary.first_time_chatters) == (3, 2, 2)
    assert summary.revenue == Decimal("10.99")  # 100 bits (1.00) + a Tier 2 resub (9.99)
    assert [(e.emote, e["count"]) for e in summary.top_emotes] == [("PogChamp", 2), ("Kappa", 1)]
