"""A live Twitch chat source: channels' chat over IRC into the event topics.

``telemetra twitch --channels a,b`` logs in anonymously (a ``justinfan`` nick, read-only),
asks for the ``twitch.tv/tags`` and ``twitch.tv/commands`` capabilities, joins the
channels and publishes every PRIVMSG and USERNOTICE as events, parsed by the same code
as an IRC log (``chat_logs.irc_events``: chat, bits, subs, gift subs, raids).

The protocol is the ``irc`` library's (jaraco): its reactor answers PING, its
``SingleServerIRCBot`` reconnects after a dropped connection with exponential backoff and
jitter, and it rejoins the channels on every welcome. Twitch's ``RECONNECT`` command
(the server going away) closes the connection, which reconnects the same way. A server
may send a message again after a reconnect; the source keeps the ids of the last
``DEDUPE_IDS`` messages and sends each id once (silver dedupes on event_id too).

The server is ``twitch_irc_url``: ``ircs://host:port`` (TLS, the default
``ircs://irc.chat.twitch.tv:6697``) or ``irc://host:port`` (plain TCP, a local test
server). Twitch itself cannot be reached from the machine this was built on: the tests
run it against a local server they start. With a client id and secret it also polls
viewer counts and stream metadata (``twitch_helix``), in the same loop.
"""

from __future__ import annotations

import logging
import random
import signal
import ssl
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from urllib.parse import urlparse

import irc.bot
import irc.connection

from pipelines.config import Settings
from pipelines.sim.event_codec import encode_event
from pipelines.sim.kafka_sink import Sink
from pipelines.sources.chat_logs import irc_events, known_emotes
from pipelines.sources.twitch_helix import Helix, StreamPoller

log = logging.getLogger(__name__)

DEDUPE_IDS = 100_000
CAPABILITIES = ("twitch.tv/tags", "twitch.tv/commands")


@dataclass
class LiveStats:
    sent: int = 0
    by_topic: Counter = field(default_factory=Counter)
    duplicates: int = 0  # message ids seen before (a server's resend after a reconnect)
    skipped: Counter = field(default_factory=Counter)  # why lines held no event
    connects: int = 0

    def __str__(self) -> str:
        topics = ", ".join(f"{k}={v}" for k, v in sorted(self.by_topic.items()))
        return (f"sent {self.sent} events ({topics or 'none'}); {self.duplicates} repeated "
                f"messages dropped; {self.connects} connections")  # fmt: skip


def server_of(url: str) -> tuple[str, int, bool]:
    """(host, port, tls) of ``ircs://host:port`` or ``irc://host:port``."""
    parts = urlparse(url)
    if parts.scheme not in ("irc", "ircs") or not parts.hostname:
        raise ValueError(f"twitch_irc_url must be irc://host:port or ircs://host:port: {url!r}")
    return (
        parts.hostname,
        parts.port or (6697 if parts.scheme == "ircs" else 6667),
        (parts.scheme == "ircs"),
    )


class TwitchChat(irc.bot.SingleServerIRCBot):
    """Joins ``channels`` on the server of ``settings.twitch_irc_url`` and sends what they
    say to ``sink``. :meth:`run` until :meth:`stop`."""

    def __init__(self, settings: Settings, channels: list[str], sink: Sink,
                 min_backoff_s: int = 1, max_backoff_s: int = 60) -> None:  # fmt: skip
        host, port, tls = server_of(settings.twitch_irc_url)
        factory = irc.connection.Factory()
        if tls:
            context = ssl.create_default_context()
            factory = irc.connection.Factory(
                wrapper=lambda sock: context.wrap_socket(sock, server_hostname=host)
            )
        recon = irc.bot.ExponentialBackoff(min_interval=min_backoff_s, max_interval=max_backoff_s)
        nick = f"justinfan{random.randint(10_000, 99_999)}"  # Twitch's anonymous login
        super().__init__([(host, port)], nick, nick, recon=recon, connect_factory=factory)
        self.channels_wanted = [c.strip().lstrip("#").lower() for c in channels if c.strip()]
        if not self.channels_wanted:
            raise ValueError("no channels to join")
        self.sink = sink
        self.stats = LiveStats()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._known = known_emotes()
        self._stop = threading.Event()
        self.connection.add_global_handler("all_raw_messages", self._on_raw, -10)
        self.connection.add_global_handler("reconnect", self._on_reconnect, -10)
        self.poller = None
        if settings.twitch_client_id and settings.twitch_client_secret:
            helix = Helix(settings.twitch_client_id, settings.twitch_client_secret,
                          settings.twitch_helix_url, settings.twitch_auth_url)  # fmt: skip
            self.poller = StreamPoller(helix, self.channels_wanted)
        self.poll_seconds = settings.twitch_poll_seconds

    # ---- the connection ---------------------------------------------------------------
    def on_welcome(self, connection, event) -> None:
        self.stats.connects += 1
        connection.cap("REQ", *CAPABILITIES)
        for channel in self.channels_wanted:
            connection.join(f"#{channel}")
        log.info("connected; joined %s", ", ".join(self.channels_wanted))

    def _on_reconnect(self, connection, event) -> None:
        """Twitch's RECONNECT: the server is going away. Hanging up reconnects as a
        dropped connection does."""
        log.info("the server asks to reconnect")
        connection.disconnect("reconnect")

    def _on_raw(self, connection, event) -> None:
        line = event.arguments[0]
        try:
            # Without Twitch's tmi-sent-ts tag (a server that did not grant the tags),
            # a message is stamped when it arrived.
            events = irc_events(line, None, self._known, now_ms=int(time.time() * 1000))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            self.stats.skipped["unreadable line"] += 1
            if self.stats.skipped["unreadable line"] <= 20:
                log.warning("unreadable line skipped (%s): %.200r", exc, line)
            return
        if isinstance(events, str):
            self.stats.skipped[events.split(":", 1)[0]] += 1
            return
        for e in events:
            if e["event_id"] in self._seen:
                self.stats.duplicates += 1
                continue
            self._seen[e["event_id"]] = None
            if len(self._seen) > DEDUPE_IDS:
                self._seen.popitem(last=False)
            self._send(e)

    def _send(self, e: dict) -> None:
        self.sink.send(e["event_type"], e["stream_id"], encode_event(e))
        self.stats.sent += 1
        self.stats.by_topic[e["event_type"]] += 1

    def _poll(self) -> None:
        """Viewer counts and stream metadata from Helix (``twitch_helix``)."""
        for e in self.poller.poll():
            self._send(e)

    # ---- running ------------------------------------------------------------------------
    def run(self) -> LiveStats:
        """Connect and process until :meth:`stop` (from another thread or a signal)."""
        if self.poller is not None:
            self._poll()
            self.reactor.scheduler.execute_every(self.poll_seconds, self._poll)
        self._connect()
        while not self._stop.is_set():
            try:
                self.reactor.process_once(timeout=0.2)
            except (ValueError, IndexError, KeyError) as exc:
                # The library's own parse of a malformed line (a PRIVMSG without its
                # parameters): logged, and the source goes on.
                log.warning("the irc library could not process a line: %s", exc)
        if self.connection.is_connected():
            self.connection.disconnect("bye")
        self.sink.flush()
        return self.stats

    def stop(self) -> None:
        self._stop.set()


def follow(settings: Settings, channels: list[str]) -> LiveStats:
    """``telemetra twitch``: follow ``channels`` until Ctrl-C or SIGTERM (the supervisor's
    stop), then flush what Kafka has not acknowledged yet."""
    with Sink(settings) as sink:
        chat = TwitchChat(settings, channels, sink)
        signal.signal(signal.SIGTERM, lambda *_: chat.stop())
        try:
            return chat.run()
        except KeyboardInterrupt:
            chat.stop()
            sink.flush()
            return chat.stats
