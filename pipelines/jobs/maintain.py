"""`telemetra maintain`: OPTIMIZE (compact small files) and VACUUM every Delta table of the lake.

Safe while the pipeline streams: OPTIMIZE rewrites files into new ones in one transaction,
which conflicts with nothing an append does; a replaceWhere of the stream that read files
OPTIMIZE just replaced fails to commit and is run again
(``pipelines.jobs.spark.retry_on_conflict``).
VACUUM keeps every file younger than the retention, which is never below Delta's safe
default of 7 days unless asked for explicitly.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from pipelines.config import Settings
from pipelines.core import catalog


def maintain_lake(
    spark: SparkSession,
    settings: Settings,
    retention_hours: float = 168.0,
    only: Sequence[str] = (),
) -> Iterator[str]:
    """OPTIMIZE then VACUUM each table (``only``: just these "layer/name" tables), one
    report line per table; tables not created yet are skipped."""
    known = [t.ref for t in catalog.TABLES]
    unknown = sorted(set(only) - set(known))
    if unknown:
        raise ValueError(f"unknown table(s) {', '.join(unknown)}; the lake has {', '.join(known)}")
    if retention_hours < 168:
        # Delta refuses short retentions unless this check is off; the caller asked for it.
        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    for table in catalog.TABLES:
        if (only and table.ref not in only) or table.is_view:  # a view's files: silver/events
            continue
        path = table.path(settings.lake_root)
        if not DeltaTable.isDeltaTable(spark, path):
            continue
        delta = DeltaTable.forPath(spark, path)
        metrics = delta.optimize().executeCompaction().collect()[0]["metrics"]
        delta.vacuum(retention_hours)
        yield (
            f"{table.ref}: compacted {metrics['numFilesRemoved']} files into "
            f"{metrics['numFilesAdded']}; vacuumed files older than {retention_hours:g}h"
        )
