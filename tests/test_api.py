"""The HTTP/WebSocket API (issue 26) on the hand-made gold lake, with a real server and clients.

``telemetra api`` runs as a process of its own (uvicorn) on a free port; requests go through
httpx, WebSockets through the websockets client. Expected values are worked out by hand
from ``tests/gold_fixture.py`` (its docstring and rows): alpha is live with 8 windows from
17:00:00 sliding 10 s, beta and gamma are offline, gamma's last event (17:20) is newer than
beta's (13:00:30).
"""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest
from api_helpers import free_port, running_api
from fault_helpers import TELEMETRA, pipeline_env
from gold_fixture import ALPHA_BROADCAST, ALPHA_OLD_BROADCAST, gold_lake  # noqa: F401
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
DAY = "2026-11-26"
KEY = "test-key-4f1c"


@pytest.fixture(scope="module")
def api_settings(base_settings, gold_lake, tmp_path_factory):  # noqa: F811
    run = tmp_path_factory.mktemp("api_run")
    # No broker at this address: /health must say so.
    return base_settings.model_copy(
        update={
            "lake_root": gold_lake,
            "run_dir": str(run),
            "kafka_bootstrap_servers": f"127.0.0.1:{free_port()}",
        }
    )


@pytest.fixture(scope="module")
def api(api_settings, tmp_path_factory):
    log = tmp_path_factory.mktemp("api_logs") / "api.log"
    with running_api(api_settings, log, TELEMETRA_API_KEEPALIVE_SECONDS="1") as base:
        yield base


def get(api, path: str, **params) -> httpx.Response:
    return httpx.get(f"{api}{path}", params=params, timeout=30)


def ws_url(api: str, path: str) -> str:
    return api.replace("http://", "ws://") + path


def test_streams_live_first_then_most_recent_and_paged(api):
    body = get(api, "/streams").json()
    assert [s["stream_id"] for s in body["data"]] == ["alpha", "gamma", "beta"]
    assert body["pagination"] == {"cursor": None}
    alpha = body["data"][0]
    assert (alpha["is_live"], alpha["title"], alpha["category"]) == (
        True,
        "Alpha plays Celeste",
        "Celeste",
    )
    first = get(api, "/streams", first=2).json()
    assert [s["stream_id"] for s in first["data"]] == ["alpha", "gamma"]
    rest = get(api, "/streams", first=2, after=first["pagination"]["cursor"]).json()
    assert [s["stream_id"] for s in rest["data"]] == ["beta"]
    assert rest["pagination"]["cursor"] is None


def test_metrics_at_each_resolution(api):
    ten = get(api, "/streams/alpha/metrics", resolution="10s", first=100).json()["data"]
    assert [m["chat_count"] for m in ten] == [12, 14, 15, 16, 20, 45, 60, 50]
    assert ten[0]["window_start"].startswith(f"{DAY}T17:00:00")
    assert ten[0]["window_end"].startswith(f"{DAY}T17:01:00")
    assert all(m["settled"] for m in ten)
    # one a minute: the windows starting on the minute
    minute = get(api, "/streams/alpha/metrics", resolution="1m").json()["data"]
    assert [(m["window_start"][11:19], m["chat_count"]) for m in minute] == [
        ("17:00:00", 12), ("17:01:00", 60)]  # fmt: skip
    hour = get(api, "/streams/alpha/metrics", resolution="1h").json()["data"]
    assert len(hour) == 1
    # the hour sums its tiling windows (12 + 60), its peaks are over all windows
    assert (hour[0]["chat_count"], hour[0]["max_chat_count"], hour[0]["max_viewers"]) == (
        72,
        60,
        305,
    )
    assert hour[0]["revenue"] == pytest.approx(5.00 + 30.00)


def test_metrics_range_and_cursor_walk(api):
    ranged = get(
        api,
        "/streams/alpha/metrics",
        resolution="10s",
        **{"from": f"{DAY}T17:00:30Z", "to": f"{DAY}T17:01:00Z"},
    ).json()["data"]
    assert [m["window_start"][11:19] for m in ranged] == ["17:00:30", "17:00:40", "17:00:50"]
    seen, after = [], None
    for _ in range(5):
        params = {"resolution": "10s", "first": 3, **({"after": after} if after else {})}
        page = get(api, "/streams/alpha/metrics", **params).json()
        seen += [m["chat_count"] for m in page["data"]]
        after = page["pagination"]["cursor"]
        if after is None:
            break
    assert seen == [12, 14, 15, 16, 20, 45, 60, 50]  # every window once, in order


def test_moments_newest_first_and_by_kind(api):
    moments = get(api, "/streams/alpha/moments").json()["data"]
    # both start 17:00:50: the higher score first
    assert [m["moment_id"] for m in moments] == ["m-alpha-raid", "m-alpha-chat"]
    assert moments[0]["top_emotes"] == [
        {"emote": "PogChamp", "count": 25},
        {"emote": "LUL", "count": 8},
    ]
    assert moments[0]["broadcast_id"] == ALPHA_BROADCAST
    chat = get(api, "/streams/alpha/moments", kind="chat_spike").json()["data"]
    assert [m["moment_id"] for m in chat] == ["m-alpha-chat"]
    late = get(api, "/streams/alpha/moments", **{"from": f"{DAY}T17:01:30Z"}).json()["data"]
    assert [m["moment_id"] for m in late] == ["m-alpha-raid"]  # the chat spike ended 17:01:20


def test_broadcasts_list_and_one(api):
    listed = get(api, "/streams/alpha/broadcasts").json()["data"]
    assert [b["broadcast_id"] for b in listed] == [ALPHA_BROADCAST, ALPHA_OLD_BROADCAST]
    one = get(api, f"/streams/alpha/broadcasts/{ALPHA_BROADCAST}").json()
    assert (one["messages"], one["peak_viewers"], one["is_live"]) == (232, 305, True)
    assert one["first_time_chatters"] + one["returning_chatters"] == one["unique_chatters"] == 95


@pytest.mark.parametrize("path", ["/streams/nobody", "/streams/nobody/metrics",
                                  "/streams/nobody/moments", "/streams/nobody/broadcasts",
                                  "/streams/alpha/broadcasts/nobody-2026"])  # fmt: skip
def test_unknown_ids_are_404(api, path):
    response = get(api, path)
    assert response.status_code == 404, response.text
    assert "unknown" in response.json()["detail"]


@pytest.mark.parametrize("params", [
    {"from": f"{DAY}T18:00:00Z", "to": f"{DAY}T17:00:00Z"},  # reversed
    {"from": "yesterday"},
    {"resolution": "5m"},
    {"first": 0},
    {"first": 101},
    {"after": "not-a-cursor"},
    {"after": "eyJvIjogMn0"},  # a cursor of another list ({"o": 2})
])  # fmt: skip
def test_bad_input_is_422_not_500(api, params):
    response = get(api, "/streams/alpha/metrics", **params)
    assert response.status_code == 422, response.text


def test_hostile_strings_are_values_not_sql(api):
    # The stream id and kind reach DuckDB as bound values: no such stream, no such kind.
    assert get(api, "/streams/alpha' OR '1'='1/metrics").status_code == 404
    response = get(api, "/streams/alpha/moments", kind="x') OR 1=1; DROP TABLE moments; --")
    assert response.status_code == 200 and response.json()["data"] == []
    assert get(api, "/streams/" + "a" * 300).status_code == 422
    for odd in ("%F0%9F%99%82", "alpha%00beta", "..%2F..%2Fetc%2Fpasswd", "%24stream_id"):
        assert get(api, f"/streams/{odd}/metrics").status_code == 404, odd
    assert len(get(api, "/streams/alpha/moments").json()["data"]) == 2  # still there


def test_health_names_what_is_down(api):
    response = get(api, "/health")
    assert response.status_code == 503
    body = response.json()
    assert (body["ok"], body["lake"]) == (False, "ok")
    assert "no answer" in body["broker"]
    assert body["newest_event_age_seconds"] > 0  # gamma's 17:20 on the fixture's day


def test_openapi_documents_the_routes_and_models(api):
    spec = get(api, "/openapi.json").json()
    assert {"/health", "/streams", "/streams/{stream_id}/metrics", "/streams/{stream_id}/moments",
            "/streams/{stream_id}/broadcasts",
            "/streams/{stream_id}/broadcasts/{broadcast_id}"} <= set(spec["paths"])  # fmt: skip
    assert {"MetricPoint", "Moment", "Broadcast", "Stream", "Health"} <= set(
        spec["components"]["schemas"]
    )
    assert get(api, "/docs").status_code == 200


def test_live_welcomes_then_pushes_the_newest_metrics_and_keepalives(api):
    with connect(ws_url(api, "/live/alpha"), open_timeout=10) as ws:
        welcome = json.loads(ws.recv(timeout=10))
        assert welcome["metadata"]["message_type"] == "session_welcome"
        assert welcome["payload"]["session"]["keepalive_timeout_seconds"] == 1
        metrics = json.loads(ws.recv(timeout=10))
        assert metrics["metadata"]["subscription_type"] == "stream.metrics"
        event = metrics["payload"]["event"]
        # the newest complete window: 17:01:10 (ends 17:02:10, before the last event 17:02:25)
        assert (event["stream_id"], event["chat_count"], event["viewers"]) == ("alpha", 50, 300)
        keepalive = json.loads(ws.recv(timeout=5))
        assert keepalive["metadata"]["message_type"] == "session_keepalive"


def test_live_closes_an_unknown_stream_with_a_clear_code(api):
    with connect(ws_url(api, "/live/nobody"), open_timeout=10) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd.code == 4404
    assert "unknown stream" in closed.value.rcvd.reason


def test_with_a_key_every_route_but_health_wants_it(api_settings, tmp_path):
    with running_api(api_settings, tmp_path / "api.log", API_KEY=KEY) as base:
        assert httpx.get(f"{base}/streams").status_code == 401
        assert (
            httpx.get(f"{base}/streams", headers={"Authorization": "Bearer wrong"}).status_code
            == 401
        )
        assert (
            httpx.get(f"{base}/streams", headers={"Authorization": f"Bearer {KEY}"}).status_code
            == 200
        )
        assert (
            httpx.get(f"{base}/streams/alpha/metrics", headers={"X-API-Key": KEY}).status_code
            == 200
        )
        assert httpx.get(f"{base}/health").status_code == 503  # answers, without a key
        with connect(ws_url(base, "/live/alpha"), open_timeout=10) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        assert closed.value.rcvd.code == 4401
        with connect(ws_url(base, f"/live/alpha?api_key={KEY}"), open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["metadata"]["message_type"] == "session_welcome"


def test_without_a_key_it_refuses_to_listen_beyond_loopback(api_settings):
    done = subprocess.run(
        [str(TELEMETRA), "api", "--port", str(free_port())],
        env=pipeline_env(api_settings, TELEMETRA_API_HOST="0.0.0.0"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "API_KEY" in done.stdout + done.stderr
