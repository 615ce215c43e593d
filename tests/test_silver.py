"""Silver transforms (pipelines/transforms/silver.py, pipelines/transforms/silver_windows.py)
on tiny inline frames.

Expected values are worked out by hand. Records arrive at ARRIVAL (12:10:00) unless said
otherwise; events are at T0 (12:00:00) unless said otherwise.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType, TimestampType
from silver_fixture import ARRIVAL, TOPICS, at, bronze_df, event, frame, record
from spark_schemas import (
    CHAT_MESSAGES,
    QUARANTINE,
    TRANSACTIONS,
    TRANSACTIONS_MINUTE,
    VIEWER_COUNTS,
    VIEWER_TIMESERIES,
)

from pipelines.config import CONF_DIR
from pipelines.jobs.lexicon import lexicon_df
from pipelines.jobs.silver_job import RATE_SCHEMA
from pipelines.jobs.silver_process import KNOWN_SCHEMA
from pipelines.jobs.silver_state import STORED_MAX_SCHEMA
from pipelines.transforms.silver import (
    DUPLICATE_DETAIL,
    SilverParams,
    classify,
    rates_to_base,
    to_quarantine,
    to_typed,
    with_decoded,
    with_silver_dedupe,
    with_typed,
)
from pipelines.transforms.silver_windows import (
    chat_summary_minute,
    explode_windows,
    transactions_minute,
    viewer_timeseries,
)

WINDOW_INPUT = StructType(
    [StructField("stream_id", StringType()), StructField("ts", TimestampType())]
)
PARAMS = SilverParams(topic_types={topic: t for t, topic in TOPICS.items()})
RATES = [("USD", Decimal("1")), ("EUR", Decimal("1.08")), ("JPY", Decimal("0.0067"))]


def rates(spark, base="USD"):
    return rates_to_base(frame(spark, RATES, RATE_SCHEMA), base)


def no_watermarks(spark):
    return frame(spark, [], STORED_MAX_SCHEMA)


def run_classify(spark, records, params=PARAMS, stored=None, base="USD"):
    stored = stored if stored is not None else no_watermarks(spark)
    return classify(bronze_df(spark, records), params, rates(spark, base), stored, lexicon(spark))


@functools.cache
def lexicon(spark):
    return lexicon_df(spark, CONF_DIR / "emote_sentiment.csv")


def verdicts(df) -> dict[int, tuple]:
    return {r["offset"]: (r["reason"], r["detail"]) for r in df.collect()}


def _without(d: dict, field: str) -> dict:
    return {k: v for k, v in d.items() if k != field}


def _cases():
    """(name, topic type, value, expected reason, expected detail); ``None`` = accepted."""
    chat = event("chat", "x", at(0))
    viewer = event("viewer", "x", at(0))
    tx = event("transaction", "x", at(0))
    meta = event("stream_meta", "x", at(0))
    future = ARRIVAL + timedelta(seconds=301)
    return [
        ("valid chat", "chat", chat, None, None),
        ("valid viewer", "viewer", viewer, None, None),
        ("valid transaction", "transaction", tx, None, None),
        ("valid stream_meta", "stream_meta", meta, None, None),
        ("zero viewers", "viewer", {**viewer, "viewer_count": 0}, None, None),
        ("not utf-8", "chat", b'\xff\xfe{"a":1}', "not_utf8", None),
        ("oversized", "chat", {**chat, "message": "x" * 70_000}, "oversized", None),
        ("truncated json", "chat", b'{"event_id":"a","event_type":"chat"', "invalid_json", None),
        ("json array", "chat", b'[{"event_type":"chat"}]', "invalid_json", None),
        ("json string", "chat", b'"chat"', "invalid_json", None),
        ("null value", "chat", None, "invalid_json", None),
        ("unknown type", "chat", {**chat, "event_type": "poll"}, "unknown_event_type", "poll"),
        ("no type", "chat", _without(chat, "event_type"), "unknown_event_type", "(absent)"),
        ("wrong topic", "viewer", chat, "topic_mismatch", None),
        ("no user_id", "chat", _without(chat, "user_id"), "missing_field", "user_id"),
        ("null event_id", "chat", {**chat, "event_id": None}, "missing_field", "event_id"),
        ("no ts", "viewer", _without(viewer, "ts"), "missing_field", "ts"),
        ("no count", "viewer", _without(viewer, "viewer_count"), "missing_field", "viewer_count"),
        ("no status", "stream_meta", _without(meta, "status"), "missing_field", "status"),
        ("count text", "viewer", {**viewer, "viewer_count": "lots"}, "wrong_type", "viewer_count"),
        ("count float", "viewer", {**viewer, "viewer_count": 1.5}, "wrong_type", "viewer_count"),
        ("amount text", "transaction", {**tx, "amount": "a lot"}, "wrong_type", "amount"),
        ("emotes text", "chat", {**chat, "emotes": "Kappa"}, "wrong_type", "emotes"),
        ("version", "chat", {**chat, "schema_version": "one"}, "wrong_type", "schema_version"),
        ("gift text", "transaction", {**tx, "gift_count": "many"}, "wrong_type", "gift_count"),
        ("bad ts", "chat", {**chat, "ts": "yesterday"}, "bad_timestamp", None),
        ("bad start", "stream_meta", {**meta, "started_at": "soon"}, "bad_timestamp", None),
        # Impossible dates, each the first event of its stream (nothing earlier to be late to).
        ("1970 ts", "chat", {**chat, "ts": "1970-01-01T00:00:00.000Z"}, "bad_timestamp",
         "ts 1970-01-01T00:00:00.000Z before 2005-01-01"),
        ("1999 ts", "viewer", {**viewer, "ts": "1999-06-01T12:00:00.000Z"}, "bad_timestamp",
         "ts 1999-06-01T12:00:00.000Z before 2005-01-01"),
        ("1999 start", "stream_meta", {**meta, "started_at": "1999-12-31T23:00:00Z"},
         "bad_timestamp", "started_at 1999-12-31T23:00:00Z before 2005-01-01"),
        ("floor itself", "chat", {**chat, "ts": "2005-01-01T00:00:00.000Z"}, None, None),
        ("future", "chat", event("chat", "x", future), "future_timestamp", None),
        ("near future", "chat", event("chat", "x", future - timedelta(seconds=2)), None, None),
        ("negative count", "viewer", {**viewer, "viewer_count": -1}, "negative_value",
         "viewer_count"),
        ("zero amount", "transaction", {**tx, "amount": 0}, "negative_value", "amount"),
        ("negative amount", "transaction", {**tx, "amount": -5}, "negative_value", "amount"),
        ("tx type", "transaction", {**tx, "tx_type": "tip"}, "invalid_value", "tx_type tip"),
        ("status", "stream_meta", {**meta, "status": "paused"}, "invalid_value", "status paused"),
        ("currency", "transaction", {**tx, "currency": "XYZ"}, "unknown_currency", "XYZ"),
        # First failing rule wins: missing before wrong type, topic before payload checks.
        ("missing+wrong", "transaction", {**_without(tx, "currency"), "amount": "x"},
         "missing_field", "currency"),
        ("topic+negative", "chat", {**viewer, "viewer_count": -1}, "topic_mismatch", None),
        ("wrong+currency", "transaction", {**tx, "amount": "x", "currency": "XYZ"},
         "wrong_type", "amount"),
    ]  # fmt: skip


CASES = _cases()


def _case_record(i, topic_type, value):
    """Each case its own stream and event_id, so lateness and dedupe stay out of the way."""
    if isinstance(value, dict):
        value = {**value, "stream_id": f"c{i}"}
        if value.get("event_id") is not None:
            value["event_id"] = f"e{i}"
    return record(value, topic_type, offset=i, key=f"c{i}")


@pytest.fixture(scope="module")
def case_results(spark):
    records = [_case_record(i, t, v) for i, (_, t, v, _, _) in enumerate(CASES)]
    records.append(record(event("chat", "k", at(0)), "chat", offset=1000, kafka_ts=None))
    df = run_classify(spark, records).cache()
    quarantine = {r["offset"]: r for r in to_quarantine(df).collect()}
    return verdicts(df), quarantine


@pytest.mark.parametrize(
    ("offset", "reason", "detail"),
    [(i, reason, detail) for i, (_, _, _, reason, detail) in enumerate(CASES)],
    ids=[c[0] for c in CASES],
)
def test_quarantine_reason(case_results, offset, reason, detail):
    got_reason, got_detail = case_results[0][offset]
    assert got_reason == reason
    if detail is not None:
        assert got_detail == detail


def test_only_records_the_typed_parse_cannot_answer_for_are_parsed_again(spark):
    """The field map (the second parse) is for records that are not JSON objects (where
    it is null too, so not seen here), have a mistyped field or come on a topic of no
    event type; a good record of any type, one missing a field or on the wrong topic is
    answered by the one typed parse."""
    cases = {
        0: ("chat", event("chat", "a", at(0)), False),
        1: ("viewer", event("viewer", "b", at(0)), False),
        2: ("transaction", event("transaction", "c", at(0)), False),
        3: ("stream_meta", event("stream_meta", "d", at(0)), False),
        4: ("viewer", _without(event("viewer", "e", at(0)), "viewer_count"), False),
        5: ("viewer", event("chat", "f", at(0)), False),  # wrong topic: still an object
        6: ("viewer", {**event("viewer", "g", at(0)), "viewer_count": "lots"}, True),
        7: ("telemetra.events.polls", event("chat", "h", at(0)), True),
    }
    records = [record(value, topic, offset=i) for i, (topic, value, _) in cases.items()]
    rows = (
        bronze_df(spark, records)
        .transform(with_decoded, PARAMS.max_message_bytes)
        .transform(with_typed, PARAMS.topic_types)
        .select("offset", F.col("_fields").isNotNull().alias("parsed_again"))
        .collect()
    )
    assert {r["offset"]: r["parsed_again"] for r in rows} == {
        i: again for i, (_, _, again) in cases.items()
    }


def test_future_check_falls_back_to_ingest_time(case_results):
    # kafka_timestamp null, ingest 12:10, event at 12:00: not in the future.
    assert case_results[0][1000] == (None, None)


def test_quarantine_row_keeps_raw_bytes_and_fills_what_is_known(case_results):
    quarantine = case_results[1]
    not_utf8 = quarantine[5]
    assert not_utf8["raw_value"] == b'\xff\xfe{"a":1}'
    assert (not_utf8["event_type"], not_utf8["event_id"], not_utf8["stream_id"]) == (
        "chat",  # from the topic
        None,
        "c5",  # from the Kafka key
    )
    unknown = quarantine[11]
    assert (unknown["event_type"], unknown["event_id"], unknown["stream_id"]) == (
        "chat",
        "e11",
        "c11",
    )
    mismatch = quarantine[13]
    assert mismatch["event_type"] == "chat"  # the JSON says chat, the topic viewer
    assert (mismatch["topic"], mismatch["offset"]) == (TOPICS["viewer"], 13)


def test_quarantine_and_typed_selects_match_the_schemas(spark):
    df = run_classify(spark, [record(event("viewer", "v", at(0)), "viewer", 0)])
    assert to_quarantine(df).schema.simpleString() == QUARANTINE.simpleString()
    typed = to_typed(df, "viewer")
    assert typed.schema.simpleString() == VIEWER_COUNTS.simpleString()
    row = typed.collect()[0]
    assert (row["event_id"], row["stream_id"], row["viewer_count"], row["offset"]) == (
        "v",
        "s1",
        100,
        0,
    )


def test_dedupe_first_arrival_wins(spark):
    copy = event("chat", "e1", at(0))
    records = [
        record(copy, "chat", 0, partition=0, kafka_ts=ARRIVAL + timedelta(seconds=1)),
        # Same ingest_time, earlier Kafka timestamp: this copy arrived first.
        record(copy, "chat", 5, partition=1, kafka_ts=ARRIVAL),
        record(copy, "chat", 6, partition=1, ingest=ARRIVAL + timedelta(seconds=30)),
        # An invalid first copy does not count: the valid one after it is accepted.
        record({**event("chat", "e2", at(0)), "ts": "never"}, "chat", 7),
        record(event("chat", "e2", at(0)), "chat", 8),
        record(event("chat", "e5", at(0)), "chat", 9),  # silver holds chat e5
        record(event("chat", "e6", at(0)), "chat", 10),  # silver holds e6 only as a viewer
    ]
    known = frame(spark, [("chat", "e5"), ("viewer", "e6")], KNOWN_SCHEMA)
    result = verdicts(run_classify(spark, records).transform(with_silver_dedupe, known))
    assert result == {
        0: ("duplicate", DUPLICATE_DETAIL),
        5: (None, None),
        6: ("duplicate", DUPLICATE_DETAIL),
        7: ("bad_timestamp", "ts never"),
        8: (None, None),
        9: ("duplicate", DUPLICATE_DETAIL),
        10: (None, None),
    }


def test_lateness_per_stream_against_earlier_arrivals(spark):
    t = at(600)  # 12:10:00, the s1 max once record 2 has arrived
    early = ARRIVAL - timedelta(minutes=5)

    def ms(k: int) -> datetime:  # Kafka timestamps k ms after ARRIVAL
        return ARRIVAL + timedelta(milliseconds=k)

    records = [
        record(event("chat", "f", at(300)), "chat", 0, ingest=early),  # 12:05, arrived first
        # 12:14 but invalid (negative): must not raise the stream's max.
        record(event("viewer", "bad", at(840), viewer_count=-1), "viewer", 1, kafka_ts=ms(1)),
        record(event("chat", "a", t), "chat", 2, kafka_ts=ms(2)),
        record(event("chat", "b", t - timedelta(minutes=3)), "chat", 3, kafka_ts=ms(3)),  # late
        record(event("chat", "c", t - timedelta(minutes=1)), "chat", 4, kafka_ts=ms(4)),  # 1 min
        record(
            event("chat", "s2", t - timedelta(minutes=3), stream="s2"), "chat", 5, kafka_ts=ms(5)
        ),
        # s3's max 12:10:00 comes from an earlier micro-batch (stored watermark).
        record(event("chat", "g", t - timedelta(seconds=150), stream="s3"), "chat", 6),
        record(event("chat", "h", t - timedelta(seconds=90), stream="s3"), "chat", 7),
        # 3 min behind "a" but in the same millisecond: no order between them, not late.
        record(
            event("transaction", "same", t - timedelta(minutes=3), amount=1.0, currency="USD"),
            "transaction",
            8,
            kafka_ts=ms(2),
        ),
    ]
    stored = frame(spark, [("s3", t)], STORED_MAX_SCHEMA)
    result = verdicts(run_classify(spark, records, stored=stored))
    assert {o: r for o, (r, _) in result.items()} == {
        0: None, 1: "negative_value", 2: None, 3: "late", 4: None, 5: None, 6: "late", 7: None,
        8: None,
    }  # fmt: skip


def test_currency_conversion_by_rate_table(spark):
    records = [
        record(event("transaction", "eur", at(0), amount=10.00, currency="EUR"), "transaction", 0),
        record(event("transaction", "jpy", at(0), amount=1000, currency="JPY"), "transaction", 1),
        record(event("transaction", "usd", at(0), amount=10.80, currency="USD"), "transaction", 2),
    ]
    usd = {
        r["event_id"]: r["amount_base"]
        for r in to_typed(run_classify(spark, records), "transaction").collect()
    }
    # 10 EUR × 1.08 = 10.80 USD; 1000 JPY × 0.0067 = 6.70 USD.
    assert usd == {"eur": Decimal("10.80"), "jpy": Decimal("6.70"), "usd": Decimal("10.80")}
    eur_params = SilverParams(topic_types=PARAMS.topic_types, base_currency="EUR")
    eur = to_typed(run_classify(spark, records, eur_params, base="EUR"), "transaction")
    assert eur.schema.simpleString() == TRANSACTIONS.simpleString()
    # Through USD: 6.70 / 1.08 = 6.2037 -> 6.20; 10.80 USD / 1.08 = 10.00 EUR.
    assert {r["event_id"]: r["amount_base"] for r in eur.collect()} == {
        "eur": Decimal("10.00"), "jpy": Decimal("6.20"), "usd": Decimal("10.00"),
    }  # fmt: skip


# ---- windows -------------------------------------------------------------------------------
def test_event_falls_in_six_sliding_windows(spark):
    df = frame(spark, [("s1", at(25))], WINDOW_INPUT)
    starts = explode_windows(df, 60, 10).select(
        F.date_format("window_start", "HH:mm:ss").alias("s"),
        F.date_format("window_end", "HH:mm:ss").alias("e"),
    )
    assert sorted((r["s"], r["e"]) for r in starts.collect()) == [
        ("11:59:30", "12:00:30"), ("11:59:40", "12:00:40"), ("11:59:50", "12:00:50"),
        ("12:00:00", "12:01:00"), ("12:00:10", "12:01:10"), ("12:00:20", "12:01:20"),
    ]  # fmt: skip


def _chat_row(i, user, emotes, sentiment, seconds=5):
    return (f"c{i}", "s1", at(seconds), user, user, "m", emotes, None, sentiment,
            TOPICS["chat"], 0, i, ARRIVAL)  # fmt: skip


def _window(df, seconds=0):
    return df.filter(F.col("window_start") == F.lit(at(seconds))).collect()


def test_chat_summary_top_emotes_and_unique_chatters(spark):
    rows = [
        _chat_row(0, "u1", ["LUL", "Kappa", "PogChamp"], 0.8),
        _chat_row(1, "u2", ["Kappa", "LUL", "KEKW"], -0.5),
        _chat_row(2, "u1", ["LUL", "Kappa"], 0.0),
        _chat_row(3, "u3", None, 0.05),
        _chat_row(4, "u2", ["PogChamp"], -0.05),
    ]
    df = frame(spark, rows, CHAT_MESSAGES)
    (w,) = _window(chat_summary_minute(df, 60, 10, top_n=3))
    assert (w["chat_count"], w["unique_chatters"]) == (5, 3)
    # Kappa 3, LUL 3 (tie: by name), PogChamp 2; KEKW 1 is cut by top_n=3.
    assert [(e["emote"], e["count"]) for e in w["top_emotes"]] == [
        ("Kappa", 3), ("LUL", 3), ("PogChamp", 2),
    ]  # fmt: skip
    assert w["sentiment_mean"] == pytest.approx((0.8 - 0.5 + 0.0 + 0.05 - 0.05) / 5)
    assert (w["positive_count"], w["negative_count"]) == (2, 2)  # ≥ 0.05 / ≤ −0.05


def test_chat_summary_without_emotes_is_an_empty_list(spark):
    df = frame(spark, [_chat_row(0, "u1", [], 0.0)], CHAT_MESSAGES)
    (w,) = _window(chat_summary_minute(df, 60, 10, top_n=5))
    assert w["top_emotes"] == []


def test_viewer_timeseries_last_is_latest_ts(spark):
    def row(i, seconds, count, offset):
        return (f"v{i}", "s1", at(seconds), count, TOPICS["viewer"], 0, offset, ARRIVAL)

    # The 12:00:40 sample arrived first (offset 0) but is the latest by event time.
    df = frame(spark, [row(0, 40, 300, 0), row(1, 5, 100, 1), row(2, 20, 200, 2)], VIEWER_COUNTS)
    out = viewer_timeseries(df, 60, 10)
    assert out.schema.simpleString() == VIEWER_TIMESERIES.simpleString()
    (w,) = _window(out)
    assert (w["avg_viewers"], w["min_viewers"], w["max_viewers"]) == (200.0, 100, 300)
    assert (w["last_viewers"], w["samples"]) == (300, 3)
    (late,) = _window(out, 30)  # 12:00:30-12:01:30 holds only the 12:00:40 sample
    assert (late["last_viewers"], late["samples"]) == (300, 1)


def test_transactions_minute_by_type(spark):
    def row(i, tx_type, amount_base):
        return (f"t{i}", "s1", at(5), "u", tx_type, Decimal(amount_base), "USD", None, None,
                Decimal(amount_base), TOPICS["transaction"], 0, i, ARRIVAL)  # fmt: skip

    df = frame(
        spark,
        [row(0, "bits", "1.00"), row(1, "bits", "5.00"), row(2, "donation", "10.80")],
        TRANSACTIONS,
    )
    out = transactions_minute(df, 60, 10, "USD")
    assert out.schema.simpleString() == TRANSACTIONS_MINUTE.simpleString()
    (w,) = _window(out)
    assert (w["tx_count"], w["revenue"], w["currency"]) == (3, Decimal("16.80"), "USD")
    assert (w["bits_count"], w["bits_revenue"]) == (2, Decimal("6.00"))
    assert (w["donation_count"], w["donation_revenue"]) == (1, Decimal("10.80"))
    assert (w["subscription_count"], w["subscription_revenue"]) == (0, Decimal("0.00"))
    assert (w["gift_sub_count"], w["gift_sub_revenue"]) == (0, Decimal("0.00"))
