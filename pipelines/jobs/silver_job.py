"""Silver job: ``bronze/events`` -> the silver tables of the hot path, as a stream or as a
batch rebuild (the window tables are the settle step's: ``pipelines.jobs.settle_job``).

Both modes run :func:`process_bronze` (``pipelines.transforms.silver.classify`` and the panes of
``pipelines.transforms.silver_panes``) on a set of bronze rows:

- **stream** (:func:`start_stream`): each micro-batch of the bronze Delta stream goes
  through the named ``foreachBatch`` function from :func:`make_batch_function`. Its two
  appends (``silver/events``: typed rows and quarantine; ``silver/panes``) run side by
  side and carry txnAppId (``telemetra-silver-<query id>``) / txnVersion (the batch id)
  as writer options (not session confs, so they are safe in parallel): a replayed batch
  appends nothing twice. A batch that died half-way classifies its rows the same on
  retry: the driver's state (``pipelines.jobs.silver_state``) is rebuilt from the rows of
  earlier batches only.
- **batch** (:func:`run_batch`): all of bronze (pinned to one version) in one go, no
  state, every table overwritten, so a rerun changes nothing. It records the bronze
  version it read on ``silver/events`` and drops the silver checkpoint, so the next
  stream resumes right after that version instead of re-reading what the batch covered.
  The settle step's batch rebuild (``run gold --mode batch``) then recomputes the windows.

Stream and batch give the same silver as long as a micro-batch does not split one bronze
commit (rows sharing an ``ingest_time``): Delta admits files up to ``maxFilesPerTrigger``
and may cut a commit at that limit, and within the cut commit "earlier" then means
"in the earlier micro-batch" rather than "earlier Kafka timestamp". The limits below are
far above what a bronze commit holds (one file per ingest date, optimizeWrite on).

``silver/events`` is partitioned by kind only (a view reads its own kind's files); no date
partitions: a channel makes a few million rows a day at most, they would multiply small
files per micro-batch, and Delta's per-file min/max on ``ts`` (files are written roughly
in ts order) already prunes the window reads.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from delta.tables import DeltaTable
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery
from pyspark.sql.types import DecimalType, StringType, StructField, StructType

from pipelines.config import CONF_DIR, Settings
from pipelines.core import catalog
from pipelines.jobs import bronze_job, params, tables
from pipelines.jobs.lexicon import lexicon_df
from pipelines.jobs.silver_process import SilverJob, SilverSinks, process_bronze
from pipelines.jobs.silver_state import SilverState
from pipelines.jobs.spark import hadoop_path, in_parallel, retry_on_conflict, small_frame, use_pool
from pipelines.transforms.silver import rates_to_base

QUERY_NAME = "silver"
RATES_CSV = CONF_DIR / "currency_rates.csv"
EMOTES_CSV = CONF_DIR / "emote_sentiment.csv"
# Rate limits for the bronze stream: a backfill goes in slices a 2-core laptop digests.
MAX_FILES_PER_TRIGGER = 1000
MAX_BYTES_PER_TRIGGER = "256m"
BRONZE_VERSION_PROPERTY = "telemetra.bronzeVersion"
RATE_SCHEMA = StructType(
    [StructField("currency", StringType(), False), StructField("rate_to_usd", DecimalType(18, 8))]
)


def ensure_tables(spark: SparkSession, settings: Settings) -> None:
    """Create every silver table (and bronze, the way bronze does) if missing, a few at a
    time (each is one small commit; a fresh lake's start waits on them)."""
    bronze_job.ensure_table(spark, settings)

    def create(table: catalog.Table) -> None:
        tables.ensure(spark, settings.lake_root, table)

    in_parallel(spark, create, catalog.stored("silver"), workers=4)


def read_rates(path: Path) -> list[tuple[str, Decimal]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return [(r["currency"].strip().upper(), Decimal(r["rate_to_usd"])) for r in rows]


def rates_df(spark: SparkSession, path: Path, base_currency: str) -> DataFrame:
    """(currency, rate_to_base) from the rate table; fails when the base is not in it."""
    rates = read_rates(path)
    if base_currency not in {c for c, _ in rates}:
        raise ValueError(f"base_currency {base_currency} is not in {path}")
    return rates_to_base(small_frame(spark, rates, RATE_SCHEMA), base_currency)


def build_job(spark: SparkSession, settings: Settings) -> SilverJob:
    return SilverJob(
        params=params.silver_params(settings),
        bronze_path=bronze_job.bronze_path(settings),
        events_path=catalog.EVENTS.path(settings.lake_root),
        panes_path=catalog.table("silver", "panes").path(settings.lake_root),
        rates_base=rates_df(spark, RATES_CSV, settings.base_currency),
        lexicon=lexicon_df(spark, EMOTES_CSV),
        state=SilverState(settings.watermark_seconds),
    )


# ---- stream -----------------------------------------------------------------------------
def stream_sinks(app_id: str, batch_id: int) -> SilverSinks:
    """Appends that a replayed batch (same app id and batch id) skips."""

    txn = {"txnAppId": app_id, "txnVersion": str(batch_id)}

    def append(df: DataFrame, path: str) -> None:
        writer = df.write.format("delta").mode("append").options(**txn)
        retry_on_conflict(lambda: writer.save(path), what=path)

    return SilverSinks(incremental=True, append=append, batch_id=batch_id)


def make_batch_function(
    job: SilverJob, app_id: str | None = None
) -> Callable[[DataFrame, int], None]:
    """The foreachBatch function. ``app_id`` defaults to ``telemetra-silver-<query id>``:
    a new checkpoint is a new query id, so its batch ids (from 0 again) are not skipped."""

    def process_silver_batch(batch_df: DataFrame, batch_id: int) -> None:
        spark = batch_df.sparkSession  # the query's own session: conf changes stay local
        use_pool(spark, "hot")
        txn_app = app_id
        if txn_app is None:
            query_id = spark.sparkContext.getLocalProperty("sql.streaming.queryId")
            if not query_id:
                raise ValueError("not inside a streaming query: pass app_id explicitly")
            txn_app = f"telemetra-silver-{query_id}"
        # Read once: the first batch of a query also reads it to rebuild the state.
        rows = batch_df.persist(StorageLevel.DISK_ONLY)
        try:
            process_bronze(spark, job, rows, stream_sinks(txn_app, batch_id))
        finally:
            rows.unpersist()

    return process_silver_batch


def _latest_version(spark: SparkSession, path: str) -> int:
    return DeltaTable.forPath(spark, path).history(1).select("version").first()[0]


def _starting_version(spark: SparkSession, settings: Settings, job: SilverJob) -> str | None:
    """Where a fresh checkpoint starts: right after the bronze version a batch rebuild read."""
    fs, offsets = hadoop_path(spark, settings.checkpoint_path(QUERY_NAME) + "/offsets")
    if fs.exists(offsets):
        return None
    props = DeltaTable.forPath(spark, job.events_path).detail().first()
    covered = (props["properties"] or {}).get(BRONZE_VERSION_PROPERTY)
    if covered is None:
        return None
    # Delta refuses a startingVersion past the latest; "latest" means "after the current one".
    return (
        str(int(covered) + 1)
        if _latest_version(spark, job.bronze_path) > int(covered)
        else "latest"
    )


def start_stream(spark: SparkSession, settings: Settings, trigger: dict) -> StreamingQuery:
    """Follow bronze into silver; checkpoint ``settings.checkpoint_path("silver")``."""
    ensure_tables(spark, settings)
    job = build_job(spark, settings)
    reader = (
        spark.readStream.format("delta")
        .option("maxFilesPerTrigger", MAX_FILES_PER_TRIGGER)
        .option("maxBytesPerTrigger", MAX_BYTES_PER_TRIGGER)
    )
    starting = _starting_version(spark, settings, job)
    if starting is not None:
        reader = reader.option("startingVersion", starting)
    return (
        reader.load(job.bronze_path)
        .writeStream.foreachBatch(make_batch_function(job))
        .option("checkpointLocation", settings.checkpoint_path(QUERY_NAME))
        .queryName(QUERY_NAME)
        .trigger(**trigger)
        .start()
    )


# ---- batch ------------------------------------------------------------------------------
def _batch_sinks() -> SilverSinks:
    def overwrite(df: DataFrame, path: str) -> None:
        # No optimized write: it regroups every row by kind first, and at 10M events its
        # two tasks spent minutes spilling a sort of 5M wide rows each. The rebuild writes
        # each partition's kinds side by side instead (rebuild_conf in the runner).
        df.write.format("delta").mode("overwrite").option("optimizeWrite", "false").save(path)

    return SilverSinks(incremental=False, append=overwrite, batch_id=None)


def run_batch(spark: SparkSession, settings: Settings) -> dict[str, int]:
    """Rebuild every silver table from all of bronze; returns the row count of each."""
    ensure_tables(spark, settings)
    job = build_job(spark, settings)
    version = _latest_version(spark, job.bronze_path)
    bronze = spark.read.format("delta").option("versionAsOf", version).load(job.bronze_path)
    process_bronze(spark, job, bronze, _batch_sinks())
    spark.sql(
        f"ALTER TABLE delta.`{job.events_path}` "
        f"SET TBLPROPERTIES ('{BRONZE_VERSION_PROPERTY}' = '{version}')"
    )
    fs, checkpoint = hadoop_path(spark, settings.checkpoint_path(QUERY_NAME))
    fs.delete(checkpoint, True)  # the stream must not redo what the rebuild covered
    counts = {
        f"silver.{t.name}": tables.read(spark, settings.lake_root, t).count()
        for t in catalog.layer("silver")
        if not t.window  # the settle step's
    }
    counts["silver.input_rows"] = bronze.count()
    return counts
