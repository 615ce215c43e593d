"""`telemetra health`: is each part of the local stack up, and is gold fresh?"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone

from pipelines import kafka_local, stack
from pipelines.config import Settings


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


def gold_freshness_seconds(settings: Settings) -> float | None:
    """Age of the newest window in gold/stream_minute_metrics (None: empty or missing)."""
    import pyarrow.compute as pc
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        table = DeltaTable(settings.table_path("gold", "stream_minute_metrics"))
    except TableNotFoundError:
        return None
    newest = pc.max(table.to_pyarrow_dataset().to_table(columns=["window_end"])["window_end"])
    if not newest.is_valid:
        return None
    value = newest.as_py()
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (datetime.now(timezone.utc) - value).total_seconds()


def check_health(settings: Settings, max_gold_age_s: float = 120.0) -> list[Check]:
    bootstrap = settings.kafka_bootstrap_servers
    checks = [Check("kafka", kafka_local.broker_answers(bootstrap), bootstrap)]
    checks += _programs(settings)
    checks.append(_app(settings))
    age = gold_freshness_seconds(settings)
    if age is None:
        checks.append(Check("gold freshness", False, "gold/stream_minute_metrics has no rows yet"))
    else:
        checks.append(
            Check("gold freshness", age <= max_gold_age_s, f"newest window ended {age:.0f}s ago")
        )
    return checks
