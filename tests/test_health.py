"""`telemetra health`'s freshness: the age of the newest event in silver and gold."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa
from deltalake import write_deltalake

from pipelines.core import catalog
from pipelines.ops.health import newest_event_age_seconds


def _write(settings, layer: str, name: str, rows: list[dict]) -> None:
    table = catalog.table(layer, name)
    schema = table.schema
    columns = {f.name: [r.get(f.name) for r in rows] for f in schema}
    write_deltalake(table.path(settings.lake_root), pa.table(columns, schema=schema))


def test_the_newest_event_time_not_a_window_end(settings):
    assert newest_event_age_seconds(settings, "gold", "streams", "last_event_ts") is None
    now = datetime.now(timezone.utc)
    _write(settings, "gold", "streams", [
        {"stream_id": "a", "status": "live", "last_event_ts": now - timedelta(seconds=30)},
        {"stream_id": "b", "status": "live", "last_event_ts": now - timedelta(seconds=4)},
    ])  # fmt: skip
    age = newest_event_age_seconds(settings, "gold", "streams", "last_event_ts")
    assert 4 <= age < 10
