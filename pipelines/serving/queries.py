"""The one query layer over the gold Delta tables: DuckDB SQL returning pandas DataFrames.

The Streamlit app and the notebooks both call ``GoldQueries``; no SQL is written anywhere
else. Delta tables are opened with the ``deltalake`` package (DuckDB's delta extension is
not available everywhere) and handed to DuckDB as Arrow datasets, so DuckDB pushes the
stream and time filters down to the Parquet row groups. Everything is read-only: the
DuckDB database is in memory with external file access switched off, and every value
reaches SQL as a bound parameter.

Gold windows are ``window_seconds`` long and slide by ``slide_seconds``, so they overlap.
Sums over a time range (messages, revenue, emote counts) only add the windows whose start
is a multiple of their own length: those tile time exactly once. Peaks and averages use
every window.

A table that does not exist yet (a fresh lake) is replaced by an empty table of the same
schema: queries return empty frames with the usual columns, and ``df.attrs["message"]``
says which table is missing and how to fill it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

import duckdb
import numpy as np
import pandas as pd

from pipelines.core import rollup
from pipelines.serving.gold_tables import GOLD_SCHEMAS, GoldTables, missing_message

__all__ = ["EARLIEST", "GOLD_SCHEMAS", "LATEST", "GoldQueries", "QueryError", "QueryInputError"]
MAX_ID_LENGTH = 256  # a stream, broadcast or moment kind name; Twitch logins are <= 25
MAX_IDS = 1000  # ids in one call
# Stand-ins for an open range: bound as parameters so the filters still push down.
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2200, 1, 1, tzinfo=timezone.utc)
# A window whose start is a multiple of its length: these tile time without overlap.
_TILING = rollup.tiling("epoch_ms")

_METRIC_COLUMNS = f"""
    stream_id, window_start, window_end, avg_viewers, max_viewers, last_viewers,
    chat_count, unique_chatters, sentiment_mean, positive_count, negative_count,
    tx_count, CAST(revenue AS DOUBLE) AS revenue, {_TILING} AS tiling"""
# How far before a stream's last event its newest windows may start (window length, lag).
_SNAPSHOT_SLACK = timedelta(hours=1)


def _snapshot_sql(metrics: str, streams: str) -> str:
    """The snapshot over a minute-metrics relation and a streams relation."""
    return f"""
    -- A live stream's windows that end after its newest event are still filling (a
    -- window 10 s into its minute holds a sixth of its chat): not shown as its newest,
    -- except in the stream's first minute, while no window is complete yet.
    WITH filling AS (SELECT max(last_event_ts) AS after FROM {streams}
                     WHERE stream_id = $stream_id AND status = 'live'),
    windows AS (
        SELECT *, window_end <= coalesce((SELECT after FROM filling), window_end) AS complete
        FROM {metrics} WHERE stream_id = $stream_id AND window_start >= $since),
    m AS (SELECT * FROM windows
          WHERE complete OR NOT EXISTS (SELECT 1 FROM windows WHERE complete)),
    latest AS (SELECT * FROM m ORDER BY window_start DESC LIMIT 1),
    before AS (
        SELECT m.chat_count, m.unique_chatters FROM m, latest
        WHERE m.window_start <= latest.window_start - (latest.window_end - latest.window_start)
        ORDER BY m.window_start DESC LIMIT 1),
    -- A window with chat but no viewer count has null viewers: the count shown is the
    -- newest one there is, and its change is against one window length before that.
    counted AS (SELECT * FROM m WHERE last_viewers IS NOT NULL),
    seen AS (SELECT * FROM counted ORDER BY window_start DESC LIMIT 1),
    seen_before AS (
        SELECT c.last_viewers FROM counted c, seen
        WHERE c.window_start <= seen.window_start - (seen.window_end - seen.window_start)
        ORDER BY c.window_start DESC LIMIT 1),
    recent AS (
        SELECT sum(revenue) AS revenue, sum(tx_count)::BIGINT AS tx_count FROM m
        WHERE window_start >= (SELECT window_end FROM latest) - $lookback AND {_TILING})
    SELECT k.stream_id, s.status, coalesce(s.status = 'live', false) AS is_live, s.title,
           s.category, s.started_at, latest.window_start, latest.window_end,
           latest.complete AS window_complete,
           seen.last_viewers AS viewers, seen_before.last_viewers AS viewers_before,
           latest.chat_count, before.chat_count AS chat_count_before,
           latest.unique_chatters, before.unique_chatters AS unique_chatters_before,
           latest.sentiment_mean, CAST(recent.revenue AS DOUBLE) AS revenue_recent,
           recent.tx_count AS tx_count_recent,
           coalesce(s.last_event_ts, latest.window_end) AS last_event_ts
    FROM (SELECT $stream_id AS stream_id) k
    LEFT JOIN {streams} s ON s.stream_id = k.stream_id
    LEFT JOIN latest ON true LEFT JOIN before ON true LEFT JOIN recent ON true
    LEFT JOIN seen ON true LEFT JOIN seen_before ON true
    WHERE s.stream_id IS NOT NULL OR latest.stream_id IS NOT NULL"""


_SNAPSHOT = _snapshot_sql("stream_minute_metrics", "streams")
# The Live page's windows, combined from the hot path's panes (``pipelines.transforms.silver_panes``
# says how), so they are as fresh as the newest micro-batch: the columns of
# stream_minute_metrics, for the stream $stream_id and window starts in [$lo, $hi).
# Metadata-only panes make no window; a window's pane k starts k slides after it.
_PANE_WINDOWS = """
    pane AS (
        SELECT * FROM panes
        WHERE stream_id = $stream_id AND pane_start >= $lo
          AND pane_start < $hi + to_seconds($window_s)
          AND chat_count + viewer_samples + tx_count > 0),
    covering AS (
        SELECT pane.*, pane_start - to_seconds(k * $slide_s) AS window_start
        FROM pane, range(0, $panes) r(k)),
    live_minute_metrics AS (
        SELECT stream_id, window_start, window_start + to_seconds($window_s) AS window_end,
               sum(viewer_sum) / nullif(sum(viewer_samples), 0) AS avg_viewers,
               max(viewer_max) AS max_viewers,
               arg_max(last_viewers, (last_viewer_ts, last_viewer_ingest_time,
                                      last_viewer_topic, last_viewer_partition,
                                      last_viewer_offset)) AS last_viewers,
               sum(chat_count)::BIGINT AS chat_count,
               len(list_distinct(flatten(
                   coalesce(list(chatters) FILTER (WHERE chatters IS NOT NULL), [])
               )))::BIGINT AS unique_chatters,
               (sum(sentiment_sum) / nullif(sum(sentiment_n), 0))::DOUBLE AS sentiment_mean,
               sum(positive_count)::BIGINT AS positive_count,
               sum(negative_count)::BIGINT AS negative_count,
               sum(tx_count)::BIGINT AS tx_count,
               coalesce(sum(revenue), 0)::DECIMAL(18, 2) AS revenue
        FROM covering
        WHERE window_start >= $lo AND window_start < $hi
        GROUP BY stream_id, window_start),
    live_streams AS (
        -- A stream settling has not reached yet is live: its events are minutes old.
        SELECT coalesce(s.stream_id, p.stream_id) AS stream_id,
               coalesce(s.status, 'live') AS status, s.title,
               s.category, s.language, s.started_at,
               greatest(s.last_event_ts, p.last_ts) AS last_event_ts
        FROM (SELECT * FROM streams WHERE stream_id = $stream_id) s
        FULL JOIN (SELECT stream_id, max(last_ts) AS last_ts FROM panes
                   WHERE stream_id = $stream_id AND pane_start >= $lo
                   GROUP BY stream_id) p ON p.stream_id = s.stream_id)"""
_FRESH_SNAPSHOT = (
    "WITH "
    + _PANE_WINDOWS
    + ",\n"
    + _snapshot_sql("live_minute_metrics", "live_streams").replace(
        "WITH filling AS", "filling AS", 1
    )
)
_STREAMS = """
    SELECT stream_id, status, coalesce(status = 'live', false) AS is_live, title, category,
           language, started_at, last_event_ts
    FROM streams"""
# How far back list_streams(fresh=True) looks in the panes (by pane start, wall clock).
FRESH_HORIZON = timedelta(hours=1)
_BROADCASTS = """
    SELECT b.stream_id, b.broadcast_id, b.started_at, b.ended_at, b.ended_at IS NULL AS is_live,
           b.title, b.category, b.peak_viewers, b.avg_viewers, b.messages, b.unique_chatters,
           b.messages / nullif(b.unique_chatters, 0) AS messages_per_chatter,
           b.first_time_chatters, b.returning_chatters,
           CAST(b.revenue AS DOUBLE) AS revenue, b.top_emotes, b.moment_count,
           (epoch(coalesce(b.ended_at, s.last_event_ts)) - epoch(b.started_at)) / 60.0
               AS duration_minutes
    FROM stream_summary b LEFT JOIN streams s ON s.stream_id = b.stream_id"""


def _fresh_streams_sql(where: str) -> str:
    """The streams table joined with the newest event times of the recent panes
    (``$recent``), and the streams only the panes know yet; ``where`` picks the streams."""
    return f"""
        WITH p AS (SELECT stream_id, max(last_ts) AS last_ts FROM panes
                   WHERE {where} AND pane_start >= $recent GROUP BY stream_id),
        s AS (SELECT * FROM ({_STREAMS}) WHERE {where})
        SELECT coalesce(s.stream_id, p.stream_id) AS stream_id, s.status,
               coalesce(s.is_live, false) AS is_live, s.title, s.category, s.language,
               s.started_at, greatest(s.last_event_ts, p.last_ts) AS last_event_ts
        FROM s FULL JOIN p ON p.stream_id = s.stream_id"""


class GoldQueries:
    """Read-only queries over ``<lake_root>/gold/*``; safe to share between threads.

    ``recheck_seconds`` bounds how often a table's Delta log is polled for a new version.
    With ``fresh=True`` the live queries combine the hot path's panes (``silver/panes``)
    into windows instead of reading the settled ``stream_minute_metrics``: seconds old
    instead of a settle interval, the same numbers once settled.
    """

    def __init__(
        self,
        lake_root: str,
        storage_options: dict[str, str] | None = None,
        recheck_seconds: float = 1.0,
        window_seconds: int = 60,
        slide_seconds: int = 10,
    ) -> None:
        if window_seconds % slide_seconds:
            raise ValueError("window_seconds must be a multiple of slide_seconds")
        self.lake_root = lake_root.rstrip("/")
        # What the panes are combined into (the pipeline's window_seconds/slide_seconds).
        self._panes = {"window_s": window_seconds, "slide_s": slide_seconds,
                       "panes": window_seconds // slide_seconds}  # fmt: skip
        self.tables = GoldTables(lake_root, storage_options, recheck_seconds)
        self._con = duckdb.connect(":memory:", config={"enable_external_access": False})

    def table_path(self, table: str) -> str:
        return self.tables.path(table)

    def table_versions(self) -> dict[str, int | None]:
        """Delta version of each gold table, None where the table does not exist yet."""
        return {name: self.tables.load(name).version for name in GOLD_SCHEMAS}

    def missing_tables(self) -> list[str]:
        return [name for name, version in self.table_versions().items() if version is None]

    def _query(self, sql: str, params: dict, tables: Sequence[str]) -> pd.DataFrame:
        """Run ``sql`` with ``params`` bound, the named gold tables registered as views."""
        loaded = {name: self.tables.load(name) for name in tables}
        cursor = self._con.cursor()  # one per call: DuckDB connections are not thread-safe
        try:
            cursor.execute("SET TimeZone = 'UTC'")
            for name, entry in loaded.items():
                cursor.register(name, entry.dataset)
            frame = cursor.execute(sql, params).df()
        except duckdb.Error as exc:
            raise QueryError(_without_sql(exc)) from None
        finally:
            cursor.close()
        _lists_as_python(frame)
        missing = [name for name, entry in loaded.items() if entry.version is None]
        frame.attrs["missing"] = missing
        frame.attrs["message"] = missing_message(missing, self.lake_root)
        return frame

    # ---- streams --------------------------------------------------------------------
    def list_streams(self, fresh: bool = False) -> pd.DataFrame:
        """Every stream, live ones first, then the most recently active. ``fresh``: the
        newest event times from the panes of the last ``FRESH_HORIZON`` too, and the streams
        only they know yet (no metadata settled: status null)."""
        order = "ORDER BY is_live DESC, last_event_ts DESC NULLS LAST, stream_id"
        if not fresh:
            return self._query(f"SELECT * FROM ({_STREAMS}) {order}", {}, ["streams"])
        sql = f"{_fresh_streams_sql('TRUE')} {order}"
        recent = datetime.now(timezone.utc) - FRESH_HORIZON
        return self._query(sql, {"recent": recent}, ["streams", "panes"])

    def live_snapshot(
        self, stream_id: str, lookback: timedelta = timedelta(hours=1), fresh: bool = False
    ) -> pd.DataFrame:
        """One row: the stream's metadata and its newest complete window, with the values
        one window length earlier (for deltas) and the revenue over ``lookback`` before that
        window's end; the viewers (and their change) are those of the newest window that has
        a viewer count. A live stream's window is complete once the stream's newest event
        (``streams.last_event_ts``) reaches its end; every window of a stream that is not
        live is. While none is complete (a stream's first minute) the newest filling one is
        taken and ``window_complete`` is false. Empty when the stream is unknown; metrics
        null when it has none. ``fresh``: windows and newest event from the panes."""
        tables = ["stream_minute_metrics", "streams"]
        sql = _SNAPSHOT
        params = {"stream_id": _id(stream_id, "stream_id"), "lookback": lookback}
        if fresh:
            tables, sql = ["panes", "streams"], _FRESH_SNAPSHOT
            params = {**params, **self._panes, "hi": LATEST}
        # Read only the recent past when the streams table says when that is (a pushed-down
        # time filter); the whole history only if that finds no window.
        since = self._recent_since(stream_id, lookback)

        def from_(when: datetime) -> dict:
            return {**params, "since": when, **({"lo": when} if fresh else {})}

        frame = self._query(sql, from_(since), tables)
        if since > EARLIEST and frame["window_start"].isna().all():
            frame = self._query(sql, from_(EARLIEST), tables)
        return frame

    def newest_snapshot(
        self, stream_id: str, lookback: timedelta = timedelta(hours=1)
    ) -> pd.DataFrame:
        """:meth:`live_snapshot` from the hot path's panes (seconds old) or, for a lake
        without panes (older than them, or hand-made), from the settled windows; the
        column ``fresh`` says which (the Live page and the API's /live both show this)."""
        snap, fresh = self.live_snapshot(stream_id, lookback, fresh=True), True
        if snap.empty or snap["window_start"].isna().all():
            settled = self.live_snapshot(stream_id, lookback)
            if not settled.empty:
                snap, fresh = settled, False
        return snap.assign(fresh=fresh)

    def _recent_since(self, stream_id: str, lookback: timedelta) -> datetime:
        sql = "SELECT max(last_event_ts) AS last FROM streams WHERE stream_id = $stream_id"
        last = self._query(sql, {"stream_id": stream_id}, ["streams"])["last"].iloc[0]
        if pd.isna(last):
            return EARLIEST
        return last.to_pydatetime() - lookback - _SNAPSHOT_SLACK

    def stream(self, stream_id: str) -> pd.DataFrame:
        """One row of :meth:`list_streams` (``fresh``) for this stream; empty when the lake
        has never seen it."""
        sql = _fresh_streams_sql("stream_id = $stream_id")
        params = {"stream_id": _id(stream_id, "stream_id"),
                  "recent": datetime.now(timezone.utc) - FRESH_HORIZON}  # fmt: skip
        return self._query(sql, params, ["streams", "panes"])

    # ---- minute metrics -------------------------------------------------------------
    def minute_metrics(
        self,
        stream_id: str,
        start: datetime | None = None,
        end: datetime | None = None,
        with_emotes: bool = False,
        fresh: bool = False,
    ) -> pd.DataFrame:
        """The stream's windows with ``start <= window_start < end``, oldest first.

        ``top_emotes`` (a list per window) only with ``with_emotes``: turning it into
        Python objects costs more than the rest of the query. ``fresh``: combined from
        the panes (no ``top_emotes``; :meth:`top_emotes` sums the panes' emotes)."""
        params = {"stream_id": _id(stream_id, "stream_id"), **_range(start, end)}
        if fresh:
            if with_emotes:
                raise QueryInputError("fresh windows carry no top_emotes: use top_emotes()")
            sql = f"""
                WITH {_PANE_WINDOWS}
                SELECT {_METRIC_COLUMNS} FROM live_minute_metrics ORDER BY window_start"""
            params = {**params, **self._panes, "lo": params["start"], "hi": params["end"]}
            del params["start"], params["end"]
            return self._query(sql, params, ["panes", "streams"])
        emotes = ", top_emotes" if with_emotes else ""
        sql = f"""
            SELECT {_METRIC_COLUMNS}{emotes} FROM stream_minute_metrics
            WHERE stream_id = $stream_id AND window_start >= $start AND window_start < $end
            ORDER BY window_start"""
        return self._query(sql, params, ["stream_minute_metrics"])

    def metrics(
        self,
        stream_id: str,
        start: datetime | None = None,
        end: datetime | None = None,
        resolution: str = "1m",
        limit: int = 100,
    ) -> pd.DataFrame:
        """At most ``limit`` points of the stream starting in ``[start, end)``, oldest first,
        in one of three resolutions:

        - ``10s``: every window (a minute long, one every ``slide_seconds``);
        - ``1m``: the tiling windows only (one per minute, no overlap);
        - ``1h``: ``stream_hour_metrics`` (``chat_count``, ``tx_count``, ``revenue`` sum
          the hour; ``max_chat_count`` is its busiest minute; no ``unique_chatters``).

        Minute points come from the settled windows and, after the newest settled one,
        from the hot path's panes (``settled`` false), so the newest are seconds old."""
        params = {"stream_id": _id(stream_id, "stream_id"), "limit": _count(limit, "limit"),
                  **_range(start, end)}  # fmt: skip
        if resolution == "1h":
            sql = """
                SELECT stream_id, hour_start AS window_start,
                       hour_start + INTERVAL 1 HOUR AS window_end,
                       avg_viewers_sum::DOUBLE / nullif(avg_viewers_windows, 0) AS avg_viewers,
                       max_viewers, chat_count, max_chat_count,
                       (sentiment_sum / nullif(sentiment_messages, 0))::DOUBLE
                           AS sentiment_mean,
                       tx_count, CAST(revenue AS DOUBLE) AS revenue, true AS settled
                FROM stream_hour_metrics
                WHERE stream_id = $stream_id AND hour_start >= $start AND hour_start < $end
                ORDER BY hour_start LIMIT $limit"""
            return self._query(sql, params, ["stream_hour_metrics"])
        if resolution not in ("10s", "1m"):
            raise QueryInputError(f"resolution must be 10s, 1m or 1h, got {resolution!r}"[:200])
        only_tiling = "AND tiling" if resolution == "1m" else ""
        sql = f"""
            SELECT *, true AS settled FROM (SELECT {_METRIC_COLUMNS} FROM stream_minute_metrics
                                            WHERE stream_id = $stream_id
                                              AND window_start >= $start
                                              AND window_start < $end)
            WHERE true {only_tiling} ORDER BY window_start LIMIT $limit"""
        settled = self._query(sql, params, ["stream_minute_metrics"])
        if len(settled) == limit:
            return settled
        # The windows settling has not reached yet: from the panes, after the newest settled.
        newest = self._query(
            "SELECT max(window_start) AS t FROM stream_minute_metrics "
            "WHERE stream_id = $stream_id AND window_start >= $start",
            {"stream_id": params["stream_id"], "start": params["start"]},
            ["stream_minute_metrics"],
        )["t"].iloc[0]
        lo = params["start"]
        if not pd.isna(newest):
            lo = max(lo, newest.to_pydatetime() + timedelta(seconds=self._panes["slide_s"]))
        if lo >= params["end"]:
            return settled
        sql = f"""
            WITH {_PANE_WINDOWS}
            SELECT *, false AS settled FROM (SELECT {_METRIC_COLUMNS} FROM live_minute_metrics)
            WHERE true {only_tiling} ORDER BY window_start LIMIT $limit"""
        fresh = self._query(
            sql,
            {"stream_id": params["stream_id"], "limit": limit - len(settled), "lo": lo,
             "hi": params["end"], **self._panes},
            ["panes", "streams"],
        )  # fmt: skip
        if fresh.empty:
            return settled
        if settled.empty:
            return fresh
        return pd.concat([settled, fresh], ignore_index=True)

    def first_time_chatters(
        self,
        stream_id: str,
        start: datetime | None = None,
        end: datetime | None = None,
        fresh: bool = False,
    ) -> pd.DataFrame:
        """Per window starting in ``[start, end)``, how many of its chatters sent their first
        message on the stream in it (``window_start``, ``first_time_chatters``; windows
        with none are left out). The rest of a window's unique chatters are returning.
        First messages come from ``gold/chatters``; ``fresh``: the range's chatters from
        the panes (every chat row has one), each at the earlier of its first pane and its
        settled first message, so users settling has not merged yet count too (a pane's
        start stands for its messages' times: windows are whole panes)."""
        params = {"stream_id": _id(stream_id, "stream_id"), **_range(start, end), **self._panes}
        settled = """
            SELECT first_ts AS t FROM chatters
            WHERE stream_id = $stream_id AND first_ts >= $start - to_seconds($window_s)
              AND first_ts < $end + to_seconds($window_s)"""
        firsts, tables = settled, ["chatters"]
        if fresh:
            firsts = """
                WITH seen AS (
                    SELECT user_id, min(pane_start) AS t
                    FROM (SELECT pane_start, unnest(p.chatters) AS user_id FROM panes p
                          WHERE stream_id = $stream_id
                            AND pane_start >= $start - to_seconds($window_s)
                            AND pane_start < $end + to_seconds($window_s))
                    GROUP BY user_id),
                known AS (SELECT user_id, first_ts FROM chatters WHERE stream_id = $stream_id)
                SELECT least(s.t, coalesce(k.first_ts, s.t)) AS t
                FROM seen s LEFT JOIN known k ON k.user_id = s.user_id"""
            tables = ["chatters", "panes"]
        sql = f"""
            WITH firsts AS ({firsts}),
            covering AS (
                SELECT time_bucket(to_seconds($slide_s), t) - to_seconds(k * $slide_s)
                           AS window_start
                FROM firsts, range(0, $panes) r(k))
            SELECT window_start, count(*)::BIGINT AS first_time_chatters FROM covering
            WHERE window_start >= $start AND window_start < $end
            GROUP BY window_start ORDER BY window_start"""
        return self._query(sql, params, tables)

    def top_emotes(
        self,
        stream_id: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 10,
        fresh: bool = False,
    ) -> pd.DataFrame:
        """Emote counts over the range, most used first: from each tiling window's top
        list of the windows starting in ``[start, end)``; ``fresh``: every emote of the
        panes those windows cover, counted exactly."""
        params = {"stream_id": _id(stream_id, "stream_id"), "limit": _count(limit, "limit"),
                  **_range(start, end)}  # fmt: skip
        if fresh:
            sql = """
                SELECT e.emote AS emote, sum(e."count")::BIGINT AS "count"
                FROM (SELECT unnest(emote_counts) AS e FROM panes
                      WHERE stream_id = $stream_id AND pane_start >= $start
                            AND pane_start < $end + to_seconds($window_s))
                GROUP BY e.emote ORDER BY "count" DESC, emote LIMIT $limit"""
            params["window_s"] = self._panes["window_s"]
            return self._query(sql, params, ["panes"])
        sql = f"""
            SELECT e.emote AS emote, sum(e."count")::BIGINT AS "count"
            FROM (SELECT unnest(top_emotes) AS e FROM stream_minute_metrics
                  WHERE stream_id = $stream_id AND window_start >= $start
                        AND window_start < $end AND {_TILING})
            GROUP BY e.emote ORDER BY "count" DESC, emote LIMIT $limit"""
        return self._query(sql, params, ["stream_minute_metrics"])

    # ---- moments --------------------------------------------------------------------
    def moments(
        self,
        stream_ids: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
        min_score: float | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pd.DataFrame:
        """Moments overlapping ``[start, end)``, newest first; None means no filter. Each
        with its broadcast (``broadcast_id``, ``broadcast_started_at``: the stream's latest
        broadcast started by the moment's peak, as gold's summaries assign it; null before
        the first), from which a video's offsets are counted."""
        sql = """
            SELECT m.moment_id, m.stream_id, s.title, m.kind, m.start_ts, m.end_ts, m.peak_ts,
                   m.peak_value, m.score, m.baseline_mean, m.baseline_std,
                   epoch(m.end_ts) - epoch(m.start_ts) AS duration_seconds,
                   m.top_emotes, m.sample_messages,
                   b.broadcast_id, b.started_at AS broadcast_started_at
            FROM moments m LEFT JOIN streams s ON s.stream_id = m.stream_id
            ASOF LEFT JOIN stream_summary b
              ON b.stream_id = m.stream_id AND coalesce(m.peak_ts, m.start_ts) >= b.started_at
            WHERE ($stream_ids::VARCHAR[] IS NULL OR list_contains($stream_ids, m.stream_id))
              AND ($kinds::VARCHAR[] IS NULL OR list_contains($kinds, m.kind))
              AND m.score >= $min_score AND m.end_ts >= $start AND m.start_ts < $end
            ORDER BY m.start_ts DESC, m.score DESC, m.moment_id"""
        params = {
            "stream_ids": _list_or_none(stream_ids, "stream_ids"),
            "kinds": _list_or_none(kinds, "kinds"),
            "min_score": float("-inf") if min_score is None else float(min_score),
            **_range(start, end),
        }
        return self._query(sql, params, ["moments", "streams", "stream_summary"])

    # ---- broadcasts and comparisons -------------------------------------------------
    def broadcast_summaries(self, stream_id: str | None = None) -> pd.DataFrame:
        """One row per broadcast (of one stream, or of all), newest first."""
        sql = f"""
            SELECT * FROM ({_BROADCASTS})
            WHERE $stream_id IS NULL OR stream_id = $stream_id
            ORDER BY started_at DESC NULLS LAST, stream_id, broadcast_id"""
        stream_id = None if stream_id is None else _id(stream_id, "stream_id")
        return self._query(sql, {"stream_id": stream_id}, ["stream_summary", "streams"])

    def compare_broadcasts(self, keys: Sequence[tuple[str, str]]) -> pd.DataFrame:
        """The given ``(stream_id, broadcast_id)`` broadcasts side by side, in that order,
        with rates that make broadcasts of different lengths comparable."""
        sql = f"""
            WITH k AS (
                SELECT unnest($stream_ids::VARCHAR[]) AS stream_id,
                       unnest($broadcast_ids::VARCHAR[]) AS broadcast_id,
                       generate_subscripts($stream_ids::VARCHAR[], 1) AS pos)
            SELECT b.*, b.messages / nullif(b.duration_minutes, 0) AS messages_per_minute,
                   b.revenue / nullif(b.duration_minutes / 60.0, 0) AS revenue_per_hour
            FROM k JOIN ({_BROADCASTS}) b
              ON b.stream_id = k.stream_id AND b.broadcast_id = k.broadcast_id
            ORDER BY k.pos"""
        keys = [_pair(key) for key in _sequence(keys, "keys")]
        params = {
            "stream_ids": [s for s, _ in keys],
            "broadcast_ids": [b for _, b in keys],
        }
        return self._query(sql, params, ["stream_summary", "streams"])

    def compare_streams(
        self, stream_ids: Sequence[str], start: datetime | None = None, end: datetime | None = None
    ) -> pd.DataFrame:
        """The given streams side by side over windows starting in ``[start, end)``, in the
        order given: peaks and averages over all windows, totals over tiling windows,
        sentiment weighted by messages, moments starting in the range.

        The whole hours of the range come from ``stream_hour_metrics`` (a row per stream and
        hour), the parts before the first and after the last whole hour from the minute
        windows, so a month costs about as much as a day."""
        # One placeholder per id: an IN list is pushed down to the scan, a list parameter
        # is not. The values are still bound, never pasted.
        stream_ids = _ids(stream_ids, "stream_ids")
        ids = {f"id{i}": stream_id for i, stream_id in enumerate(stream_ids)}
        in_list = ", ".join(f"${name}" for name in ids) or "NULL"
        bounds = _range(start, end)
        hours = _whole_hours(bounds["start"], bounds["end"])
        columns = ", ".join(rollup.WINDOW_PARTS)
        sql = f"""
            WITH k AS (SELECT unnest($ids::VARCHAR[]) AS stream_id,
                              generate_subscripts($ids::VARCHAR[], 1) AS pos),
            parts AS (
                SELECT stream_id, {columns} FROM stream_hour_metrics
                WHERE stream_id IN ({in_list})
                  AND hour_start >= $hours_start AND hour_start < $hours_end
                UNION ALL {_minute_parts("$start", "$hours_start", in_list)}
                UNION ALL {_minute_parts("$hours_end", "$end", in_list)}),
            r AS (SELECT stream_id, {rollup.combine_sql()} FROM parts GROUP BY stream_id),
            m AS (
                SELECT stream_id, max_viewers AS peak_viewers,
                       avg_viewers_sum::DOUBLE / nullif(avg_viewers_windows, 0) AS avg_viewers,
                       max_chat_count AS peak_chat_per_minute, chat_count AS messages, revenue,
                       sentiment_sum::DOUBLE / nullif(sentiment_messages, 0) AS sentiment,
                       first_window_start AS first_window, last_window_end AS last_window
                FROM r),
            mo AS (SELECT stream_id, count(*) AS moments FROM moments
                   WHERE start_ts >= $start AND start_ts < $end GROUP BY stream_id)
            SELECT k.stream_id, s.title, s.status, m.peak_viewers, m.avg_viewers,
                   coalesce(m.messages, 0)::BIGINT AS messages, m.peak_chat_per_minute,
                   CAST(coalesce(m.revenue, 0) AS DOUBLE) AS revenue, m.sentiment,
                   coalesce(mo.moments, 0) AS moments, m.first_window, m.last_window
            FROM k LEFT JOIN streams s ON s.stream_id = k.stream_id
            LEFT JOIN m ON m.stream_id = k.stream_id LEFT JOIN mo ON mo.stream_id = k.stream_id
            ORDER BY k.pos"""
        params = {"ids": list(stream_ids), **ids, **bounds, **hours}
        tables = ["stream_hour_metrics", "stream_minute_metrics", "moments", "streams"]
        return self._query(sql, params, tables)


def _range(start: datetime | None, end: datetime | None) -> dict[str, datetime]:
    return {"start": _utc(start) if start else EARLIEST, "end": _utc(end) if end else LATEST}


def _minute_parts(start: str, end: str, in_list: str) -> str:
    """SQL: the minute windows of the listed streams starting in ``[start, end)`` (two
    parameter names) as hour parts (``pipelines.core.rollup``), in the hour table's columns.
    One plain range per scan, so DuckDB pushes it down to the Parquet row groups."""
    return f"""
        SELECT stream_id, {rollup.parts_sql()}
        FROM (SELECT *, {_TILING} AS tiling FROM stream_minute_metrics
              WHERE stream_id IN ({in_list}) AND window_start >= {start}
                AND window_start < {end})"""


def _whole_hours(start: datetime, end: datetime) -> dict[str, datetime]:
    """``hours_start``..``hours_end``: the whole UTC hours inside ``[start, end)``; both
    ``end`` when there are none (the minute windows then cover the whole range)."""
    first = start.replace(minute=0, second=0, microsecond=0)
    if first < start:
        first += timedelta(hours=1)
    last = end.replace(minute=0, second=0, microsecond=0)
    if first >= last:
        first = last = end
    return {"hours_start": first, "hours_end": last}


def _utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC (the lake's clock); aware ones are converted."""
    if not isinstance(value, datetime):
        raise QueryInputError(f"a time bound must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _lists_as_python(frame: pd.DataFrame) -> None:
    """LIST columns arrive as numpy arrays (null as NA); plain lists and None print,
    compare and export better."""
    for col in frame.select_dtypes(include="object").columns:
        if any(isinstance(v, np.ndarray) for v in frame[col]):
            frame[col] = [
                v.tolist() if isinstance(v, np.ndarray) else None if v is pd.NA else v
                for v in frame[col]
            ]


class QueryInputError(ValueError):
    """An argument the query layer refuses before any SQL runs; the message says which."""


class QueryError(RuntimeError):
    """DuckDB failed on a query; the message is DuckDB's first line, never the SQL."""


def _without_sql(exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"query failed: {first.split(' LINE ')[0][:300]}"


def _id(value: object, what: str) -> str:
    """A stream id (or kind, broadcast id): a string of 1..MAX_ID_LENGTH characters."""
    if not isinstance(value, str):
        raise QueryInputError(f"{what} must be a string, got {type(value).__name__}")
    if not 0 < len(value) <= MAX_ID_LENGTH:
        raise QueryInputError(f"{what} must be 1-{MAX_ID_LENGTH} characters, got {len(value)}")
    return value


def _sequence(values: object, what: str) -> list:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence | set | frozenset):
        raise QueryInputError(f"{what} must be a list, got {type(values).__name__}")
    if len(values) > MAX_IDS:
        raise QueryInputError(f"{what}: at most {MAX_IDS} at once, got {len(values)}")
    return list(values)


def _ids(values: object, what: str) -> list[str]:
    return [_id(v, what) for v in _sequence(values, what)]


def _pair(key: object) -> tuple[str, str]:
    if not isinstance(key, Sequence) or isinstance(key, str) or len(key) != 2:
        raise QueryInputError("keys must be (stream_id, broadcast_id) pairs")
    return _id(key[0], "stream_id"), _id(key[1], "broadcast_id")


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_IDS:
        raise QueryInputError(f"{what} must be an integer in 1..{MAX_IDS}, got {value!r}"[:200])
    return value


def _list_or_none(values: Sequence[str] | None, what: str) -> list[str] | None:
    return None if values is None else _ids(values, what)


# ---- data quality ----------------------------------------------------------------------------
# Section owned by the data-quality work (pipelines/quality/quality.py writes gold/quality_runs).
# Module-level functions, the same read path as GoldQueries (deltalake -> Arrow -> DuckDB):
# the quality page reads gold/quality_runs and silver/quarantine, which GoldQueries does not
# register. A missing table reads as an empty one with its schema.

_QUALITY_TABLES = {"quality_runs": "gold", "quarantine": "silver"}  # name -> layer


def _quality_query(
    lake_root: str,
    sql: str,
    params: dict,
    tables: Sequence[str],
    storage_options: dict[str, str] | None = None,
) -> pd.DataFrame:
    # Imported here so this section leaves the module's header to the gold queries.
    from deltalake import DeltaTable

    from pipelines.core import catalog

    con = duckdb.connect(":memory:", config={"enable_external_access": False})
    try:
        con.execute("SET TimeZone = 'UTC'")
        for name in tables:
            table = catalog.table(_QUALITY_TABLES[name], name)
            path = table.stored.path(lake_root)  # a view's rows: in silver/events
            if DeltaTable.is_deltatable(path, storage_options=storage_options):
                delta = DeltaTable(path, storage_options=storage_options)
                con.register(f"{name}_stored", delta.to_pyarrow_dataset())
            else:
                empty = table.stored.schema.empty_table()
                con.register(f"{name}_stored", empty)
            con.execute(f"CREATE VIEW {name} AS {catalog.view_sql(table, f'{name}_stored')}")
        frame = con.execute(sql, params).df()
    finally:
        con.close()
    _lists_as_python(frame)
    return frame


def quality_latest(lake_root: str, storage_options: dict[str, str] | None = None) -> pd.DataFrame:
    """The latest validation of each table and check, by layer order then name."""
    sql = """
        SELECT * EXCLUDE (n) FROM (
            SELECT *, row_number() OVER (PARTITION BY suite ORDER BY run_time DESC) AS n
            FROM quality_runs)
        WHERE n = 1
        ORDER BY CASE layer WHEN 'bronze' THEN 0 WHEN 'silver' THEN 1 ELSE 2 END, suite"""
    return _quality_query(lake_root, sql, {}, ["quality_runs"], storage_options)


def quality_trend(
    lake_root: str,
    since: datetime | None = None,
    storage_options: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Per run since ``since``: tables validated, tables failing, failed expectations."""
    sql = """
        SELECT run_id, min(run_time) AS run_time, count(*) AS tables,
               count(*) FILTER (WHERE status IN ('failed', 'error')) AS failed_tables,
               coalesce(sum(critical_failed), 0)::BIGINT AS critical_failed,
               coalesce(sum(warning_failed), 0)::BIGINT AS warning_failed
        FROM quality_runs WHERE run_time >= $since
        GROUP BY run_id ORDER BY run_time"""
    since_param = {"since": _range(since, None)["start"]}
    return _quality_query(lake_root, sql, since_param, ["quality_runs"], storage_options)


def quarantine_rate_trend(
    lake_root: str,
    since: datetime | None = None,
    storage_options: dict[str, str] | None = None,
) -> pd.DataFrame:
    """The quarantine rate each run measured (the ``silver.quarantine_rate`` check)."""
    sql = """
        SELECT run_time, observed_value AS quarantine_rate, status
        FROM quality_runs
        WHERE suite = 'silver.quarantine_rate' AND run_time >= $since
        ORDER BY run_time"""
    since_param = {"since": _range(since, None)["start"]}
    return _quality_query(lake_root, sql, since_param, ["quality_runs"], storage_options)


def quarantine_reasons(
    lake_root: str,
    since: datetime | None = None,
    storage_options: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Quarantined records ingested since ``since`` by reason and event type, most first."""
    sql = """
        SELECT reason, coalesce(event_type, '?') AS event_type, count(*) AS records,
               max(ingest_time) AS last_seen
        FROM quarantine WHERE ingest_time >= $since
        GROUP BY ALL ORDER BY records DESC, reason, event_type"""
    since_param = {"since": _range(since, None)["start"]}
    return _quality_query(lake_root, sql, since_param, ["quarantine"], storage_options)
