"""`telemetra health`: is each part of the local stack up, and is gold fresh?"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone

from pipelines.config import Settings
from pipelines.jobs import kafka_ready
from pipelines.ops import stack


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _programs(settings: Settings) -> list[Check]:
    if not stack.supervisord_running(settings):
        return [Check("supervisor", False, "not running (telemetra up starts it)")]
    checks = []
    for line in stack.status(settings).splitlines():
        parts = line.split()
        if len(parts) >= 2:
            checks.append(Check(f"program {parts[0]}", parts[1] == "RUNNING", " ".join(parts[1:])))
    return checks


def _app(settings: Settings) -> Check:
    url = f"http://{settings.app_host}:{settings.app_port}/_stcore/health"
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return Check("app", resp.status == 200, url)
    except OSError as exc:
        return Check("app", False, f"{url}: {exc}")


def _api(settings: Settings) -> list[Check]:
    """The API answers /health (its own 503 names what is down: the checks here say it
    too), and its moment webhooks, if any, have not failed."""
    from pipelines.serving import webhooks

    url = f"http://{settings.api_host}:{settings.api_port}/health"
    try:
        with urllib.request.urlopen(url, timeout=5):
            checks = [Check("api", True, url)]
    except urllib.error.HTTPError as exc:  # it answered: 503 is the lake or the broker
        checks = [Check("api", True, f"{url} (answers {exc.code})")]
    except OSError as exc:
        checks = [Check("api", False, f"{url}: {exc}")]
    if settings.webhook_urls:
        hooks = webhooks.summary(webhooks.outbox_path(settings.run_path))
        if hooks is None:
            checks.append(Check("webhooks", True, "nothing to deliver yet"))
        else:
            detail = f"{hooks['delivered']} delivered, {hooks['pending']} pending, " \
                     f"{hooks['failed']} failed"  # fmt: skip
            if hooks["last_error"]:
                detail += f"; last error: {hooks['last_error']}"
            checks.append(Check("webhooks", hooks["failed"] == 0, detail))
    return checks


def newest_event_age_seconds(
    settings: Settings, layer: str, table: str, column: str
) -> float | None:
    """Now minus the newest ``column`` of a table (None: empty or missing). The newest
    event time, not a window end: a window that is still filling ends in the future."""
    import pyarrow.compute as pc
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        delta = DeltaTable(
            settings.table_path(layer, table), storage_options=settings.storage_options
        )
    except TableNotFoundError:
        return None
    newest = pc.max(delta.to_pyarrow_dataset().to_table(columns=[column])[column])
    if not newest.is_valid:
        return None
    value = newest.as_py()
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (datetime.now(timezone.utc) - value).total_seconds()


# (label, layer, table, column): how far behind the stream each layer is
_FRESHNESS = (
    ("silver freshness", "silver", "panes", "last_ts"),
    ("gold freshness", "gold", "streams", "last_event_ts"),
)


def check_health(settings: Settings, max_age_s: float = 120.0) -> list[Check]:
    bootstrap = settings.kafka_bootstrap_servers
    checks = [Check("kafka", kafka_ready.broker_answers(bootstrap), bootstrap)]
    checks += _programs(settings)
    checks.append(_app(settings))
    checks += _api(settings)
    for label, layer, table, column in _FRESHNESS:
        age = newest_event_age_seconds(settings, layer, table, column)
        if age is None:
            checks.append(Check(label, False, f"{layer}/{table} has no rows yet"))
        else:
            detail = f"newest event {age:.0f}s ago ({layer}/{table})"
            checks.append(Check(label, age <= max_age_s, detail))
    return checks
