"""`telemetra api`: the lake over HTTP and WebSocket (FastAPI under uvicorn).

Every read goes through :class:`pipelines.serving.queries.GoldQueries` (no SQL here, no
Spark). Routes (OpenAPI at ``/docs`` and ``/openapi.json``):

- ``GET /health``: can the lake be read, does the broker answer, how old is the newest event
  (503 when the lake or the broker is down);
- ``GET /streams``; ``GET /streams/{id}/metrics?from=&to=&resolution=10s|1m|1h``;
  ``GET /streams/{id}/moments?from=&to=&kind=``; ``GET /streams/{id}/broadcasts`` and
  ``/broadcasts/{broadcast_id}``. Lists are paged as in Twitch Helix: ``first`` (1-100,
  20 by default) and ``after`` (the cursor of the previous page);
- ``WS /live/{id}``: a welcome, the stream's newest metrics, then each change of them and
  each new moment, with keepalives (``pipelines.serving.live_feed``; README "The API").

With ``api_key`` set, every route but ``/health`` wants it (``Authorization: Bearer <key>``
or ``X-API-Key``; WebSocket: also ``?api_key=``). Without one the API serves loopback only.
With ``alert_webhook_urls`` set the process also delivers moment webhooks
(``pipelines.serving.webhooks``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import ipaddress
import json
import logging
import secrets
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Annotated, Literal

import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Query, Request, WebSocket
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.websockets import WebSocketDisconnect

from pipelines.config import Settings
from pipelines.jobs import kafka_ready
from pipelines.serving import webhooks
from pipelines.serving.api_models import (
    Broadcast,
    Health,
    MetricPoint,
    Moment,
    Page,
    Pagination,
    Problem,
    Stream,
    envelope,
)
from pipelines.serving.live_feed import LiveHub, records
from pipelines.serving.queries import GoldQueries, QueryError, QueryInputError

log = logging.getLogger(__name__)
MAX_PAGE = 100
# WebSocket close codes (4000-4999 are the application's): see README "The API".
CLOSE_UNAUTHORIZED = 4401
CLOSE_UNKNOWN_STREAM = 4404
CLOSE_TOO_SLOW = 4408
BROKER_TIMEOUT_S = 2.0

First = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page (1-100).")]
After = Annotated[str | None, Query(description="The cursor of the previous page.")]
From = Annotated[datetime | None, Query(alias="from", description="ISO 8601; without a zone: UTC.")]
To = Annotated[datetime | None, Query(description="ISO 8601, exclusive; without a zone: UTC.")]
NOT_FOUND = {404: {"model": Problem, "description": "No such stream (or broadcast)."}}


class ConfigRefused(ValueError):
    """The API would be reachable from other machines without a key."""


def check_exposure(settings: Settings) -> None:
    """Without ``api_key`` the API binds to loopback only."""
    if settings.api_key:
        return
    host = settings.api_host
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigRefused(
            f"api_host {host!r} is reachable from other machines: set API_KEY, or keep "
            "api_host on 127.0.0.1"
        )


def create_app(settings: Settings, queries: GoldQueries | None = None) -> FastAPI:
    check_exposure(settings)
    queries = queries or GoldQueries(
        settings.lake_root,
        settings.storage_options,
        recheck_seconds=settings.api_poll_seconds / 2,
        window_seconds=settings.window_seconds,
        slide_seconds=settings.slide_seconds,
    )
    hub = LiveHub(queries, settings.api_poll_seconds)
    outbox_path = webhooks.outbox_path(settings.run_path)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        task = None
        if settings.webhook_urls:
            outbox = webhooks.WebhookOutbox(queries, settings.webhook_urls, outbox_path,
                                            settings.webhook_max_attempts)  # fmt: skip
            task = asyncio.create_task(outbox.run(), name="webhooks")
            log.info("webhooks: delivering new moments to %d URL(s)", len(settings.webhook_urls))
        yield
        await hub.close()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(
        title="Telemetra API",
        version="1",
        description="Live-stream analytics from the Telemetra lake. WebSocket `/live/{stream_id}`"
        " is described in the README's API section.",
        lifespan=lifespan,
    )
    key = settings.api_key

    def authorized(request: Request) -> None:
        if key and not _key_matches(key, _presented_key(request.headers, {})):
            raise HTTPException(401, "missing or wrong API key", {"WWW-Authenticate": "Bearer"})

    auth = [Depends(authorized)]

    @app.exception_handler(QueryInputError)
    async def _bad_input(request: Request, exc: QueryInputError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(QueryError)
    async def _lake_failed(request: Request, exc: QueryError) -> JSONResponse:
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": f"the lake could not answer: {exc}"}, status_code=503)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    def health() -> JSONResponse:
        lake, age = "ok", None
        try:
            newest = queries.list_streams(fresh=True)["last_event_ts"].max()
            if not pd.isna(newest):
                age = round((datetime.now(timezone.utc) - newest).total_seconds(), 1)
        except Exception as exc:  # what is wrong goes in the answer, not a 500
            lake = f"cannot read {settings.lake_root}: {exc}"[:300]
        bootstrap = settings.kafka_bootstrap_servers
        broker = "ok" if kafka_ready.broker_answers(bootstrap, BROKER_TIMEOUT_S) else (
            f"no answer from {bootstrap}")  # fmt: skip
        ok = lake == "ok" and broker == "ok"
        body = Health(
            ok=ok,
            lake=lake,
            broker=broker,
            newest_event_age_seconds=age,
            webhooks=webhooks.summary(outbox_path) if settings.webhook_urls else None,
        )
        return JSONResponse(body.model_dump(mode="json"), status_code=200 if ok else 503)

    @app.get("/streams", response_model=Page[Stream], dependencies=auth)
    def streams(first: First = 20, after: After = None) -> dict:
        """Every stream the lake knows, live ones first, then the most recently active."""
        return _offset_page(records(queries.list_streams(fresh=True)), first, after)

    def known(stream_id: str) -> dict:
        rows = records(queries.stream(stream_id))
        if not rows:
            raise HTTPException(404, f"unknown stream {stream_id[:100]!r}")
        return rows[0]

    @app.get("/streams/{stream_id}", response_model=Stream, responses=NOT_FOUND,
             dependencies=auth)  # fmt: skip
    def stream(stream_id: str) -> dict:
        return known(stream_id)

    @app.get("/streams/{stream_id}/metrics", response_model=Page[MetricPoint],
             responses=NOT_FOUND, dependencies=auth)  # fmt: skip
    def metrics(
        stream_id: str,
        from_: From = None,
        to: To = None,
        resolution: Literal["10s", "1m", "1h"] = "1m",
        first: First = 20,
        after: After = None,
    ) -> dict:
        """Window metrics, oldest first. ``10s``: every 1-minute window (one every 10 s);
        ``1m``: one per minute; ``1h``: one per hour. The newest minute points come from the
        hot path (``settled`` false): seconds old."""
        start, end = _bounds(from_, to)
        known(stream_id)
        if after is not None:
            start = max(start or datetime.min.replace(tzinfo=timezone.utc),
                        _parse_time(_cursor(after, "t")))  # fmt: skip
        rows = records(queries.metrics(stream_id, start, end, resolution, limit=first + 1))
        cursor = _encode({"t": rows[first]["window_start"]}) if len(rows) > first else None
        return {"data": rows[:first], "pagination": Pagination(cursor=cursor)}

    @app.get("/streams/{stream_id}/moments", response_model=Page[Moment], responses=NOT_FOUND,
             dependencies=auth)  # fmt: skip
    def moments(
        stream_id: str,
        from_: From = None,
        to: To = None,
        kind: Annotated[list[str] | None, Query(description="Repeat for several.")] = None,
        first: First = 20,
        after: After = None,
    ) -> dict:
        """Moments overlapping the range, newest first."""
        start, end = _bounds(from_, to)
        known(stream_id)
        frame = queries.moments(stream_ids=[stream_id], kinds=kind, start=start, end=end)
        return _offset_page(records(frame), first, after)

    @app.get("/streams/{stream_id}/broadcasts", response_model=Page[Broadcast],
             responses=NOT_FOUND, dependencies=auth)  # fmt: skip
    def broadcasts(stream_id: str, first: First = 20, after: After = None) -> dict:
        """The stream's broadcasts (a summary each), newest first."""
        known(stream_id)
        return _offset_page(records(queries.broadcast_summaries(stream_id)), first, after)

    @app.get("/streams/{stream_id}/broadcasts/{broadcast_id}", response_model=Broadcast,
             responses=NOT_FOUND, dependencies=auth)  # fmt: skip
    def broadcast(stream_id: str, broadcast_id: str) -> dict:
        known(stream_id)
        rows = records(queries.compare_broadcasts([(stream_id, broadcast_id)]))
        if not rows:
            raise HTTPException(404, f"unknown broadcast {broadcast_id[:100]!r}")
        return rows[0]

    @app.websocket("/live/{stream_id}")
    async def live(websocket: WebSocket, stream_id: str) -> None:
        await websocket.accept()
        if key and not _key_matches(key, _presented_key(websocket.headers,
                                                        websocket.query_params)):  # fmt: skip
            await websocket.close(CLOSE_UNAUTHORIZED, "missing or wrong API key")
            return
        try:
            exists = await asyncio.to_thread(lambda: not queries.stream(stream_id).empty)
        except (QueryInputError, QueryError) as exc:
            await websocket.close(CLOSE_UNKNOWN_STREAM, str(exc)[:120])
            return
        if not exists:
            await websocket.close(CLOSE_UNKNOWN_STREAM, f"unknown stream {stream_id[:80]!r}")
            return
        await _serve_live(websocket, hub, stream_id, settings.api_keepalive_seconds)

    return app


async def _serve_live(websocket: WebSocket, hub: LiveHub, stream_id: str, keepalive_s: int):
    feed, queue = hub.subscribe(stream_id)
    session = {
        "id": str(uuid.uuid4()),
        "status": "connected",
        "stream_id": stream_id,
        "keepalive_timeout_seconds": keepalive_s,
        "connected_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
    }
    closed = asyncio.create_task(_until_closed(websocket))
    getter: asyncio.Future | None = None
    try:
        await websocket.send_json(envelope("session_welcome", {"session": session}))
        if feed.latest is not None:
            await websocket.send_json(feed.latest)
        while not closed.done():
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, closed}, timeout=keepalive_s,
                                         return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
            if getter not in done:
                getter.cancel()
                if closed.done():
                    break
                await websocket.send_json(envelope("session_keepalive", {}))
                continue
            if queue not in feed.clients:
                await websocket.close(CLOSE_TOO_SLOW, "the client fell too far behind")
                break
            await websocket.send_json(getter.result())
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client went away mid-send
    finally:
        closed.cancel()
        if getter is not None:
            getter.cancel()
        await hub.unsubscribe(stream_id, queue)


async def _until_closed(websocket: WebSocket) -> None:
    """Read (and drop) what the client sends, until it disconnects."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_text()


def _presented_key(headers, query_params) -> str:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return headers.get("x-api-key") or query_params.get("api_key") or ""


def _key_matches(key: str, presented: str) -> bool:
    return secrets.compare_digest(key.encode(), presented.encode())


def _bounds(start: datetime | None, end: datetime | None) -> tuple[datetime | None, ...]:
    start, end = _utc(start), _utc(end)
    if start is not None and end is not None and start >= end:
        raise HTTPException(422, "from must be before to")
    return start, end


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _encode(cursor: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(cursor).encode()).decode().rstrip("=")


def _cursor(after: str, field: str) -> object:
    """A cursor's field; a cursor this API did not write is a 422."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)))
        return decoded[field]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise HTTPException(422, "after: not a cursor of this list") from None


def _parse_time(value: object) -> datetime:
    try:
        return _utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        raise HTTPException(422, "after: not a cursor of this list") from None


def _offset_page(rows: list[dict], first: int, after: str | None) -> dict:
    """A page of a short list (streams, moments, broadcasts) by position in it."""
    offset = 0
    if after is not None:
        offset = _cursor(after, "o")
        if not isinstance(offset, int) or offset < 0:
            raise HTTPException(422, "after: not a cursor of this list")
    cursor = _encode({"o": offset + first}) if offset + first < len(rows) else None
    return {"data": rows[offset : offset + first], "pagination": Pagination(cursor=cursor)}


def serve(settings: Settings, port: int | None = None) -> None:
    """Run the API under uvicorn until stopped (Ctrl-C, SIGTERM)."""
    import uvicorn

    app = create_app(settings)
    uvicorn.run(app, host=settings.api_host, port=port or settings.api_port,
                log_level=settings.log_level.lower(), access_log=False)  # fmt: skip
