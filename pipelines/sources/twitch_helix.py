"""Viewer counts, titles and categories of live Twitch channels, from the Helix API.

Chat carries no viewer count: with a client id and secret configured
(``twitch_client_id``/``twitch_client_secret``, from the environment as
``TWITCH_CLIENT_ID``/``TWITCH_CLIENT_SECRET``, never from the repo) the live source polls
Get Streams every ``twitch_poll_seconds`` and publishes, per channel that is live, a
viewer event and a ``live`` stream_meta event (title, category, language, started_at);
a channel that stops being live gets an ``offline`` event. The app access token comes
from the client-credentials grant and is fetched again when Helix answers 401.

``twitch_helix_url`` and ``twitch_auth_url`` are configuration, so the tests point them at
a local HTTP server (Twitch cannot be reached from the machine this was built on).
"""

from __future__ import annotations

import logging
import time

import requests

from pipelines.sources.chat_logs import envelope

log = logging.getLogger(__name__)
TIMEOUT_S = 5.0


class Helix:
    """Get Streams for a list of logins, with an app access token."""

    def __init__(self, client_id: str, client_secret: str, api_url: str, auth_url: str) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.api_url, self.auth_url = api_url.rstrip("/"), auth_url
        self.session = requests.Session()
        self._token: str | None = None

    def _fetch_token(self) -> str:
        reply = self.session.post(self.auth_url, timeout=TIMEOUT_S, data={
            "client_id": self.client_id, "client_secret": self.client_secret,
            "grant_type": "client_credentials"})  # fmt: skip
        reply.raise_for_status()
        return reply.json()["access_token"]

    def streams(self, logins: list[str]) -> list[dict]:
        """The live streams among ``logins`` (Helix's ``data``; at most 100 logins)."""
        for attempt in (1, 2):
            if self._token is None:
                self._token = self._fetch_token()
            reply = self.session.get(
                f"{self.api_url}/streams",
                params=[("user_login", login) for login in logins[:100]] + [("first", "100")],
                headers={"Client-Id": self.client_id, "Authorization": f"Bearer {self._token}"},
                timeout=TIMEOUT_S,
            )
            if reply.status_code == 401 and attempt == 1:
                self._token = None  # expired or revoked: a new one, once
                continue
            reply.raise_for_status()
            return reply.json().get("data", [])
        return []


def stream_events(data: list[dict], was_live: set[str], now_ms: int) -> tuple[list[dict], set]:
    """Events for one poll's answer: a viewer and a live event per live stream, an offline
    event per login live before and not now; and the logins live now."""
    events, live = [], set()
    for s in data:
        login = str(s.get("user_login") or "").lower()
        if not login:
            continue
        live.add(login)
        started = s.get("started_at")
        events.append(envelope("viewer", login, now_ms, ("helix", now_ms),
                               viewer_count=int(s.get("viewer_count") or 0)))  # fmt: skip
        events.append(envelope("stream_meta", login, now_ms, ("helix", now_ms), status="live",
                               title=s.get("title"), category=s.get("game_name"),
                               language=s.get("language"), started_at=started))  # fmt: skip
    for login in sorted(was_live - live):
        events.append(envelope("stream_meta", login, now_ms, ("helix", now_ms),
                               status="offline"))  # fmt: skip
    return events, live


class StreamPoller:
    """One poll at a time (the live source calls :meth:`poll` every poll interval)."""

    def __init__(self, helix: Helix, logins: list[str]) -> None:
        self.helix, self.logins = helix, logins
        self.live: set[str] = set()

    def poll(self, now_ms: int | None = None) -> list[dict]:
        try:
            data = self.helix.streams(self.logins)
        except (requests.RequestException, ValueError, KeyError) as exc:
            log.warning("Helix Get Streams failed (%s); trying again next poll", exc)
            return []
        events, self.live = stream_events(data, self.live, now_ms or int(time.time() * 1000))
        return events
