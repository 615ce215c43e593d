"""The one SparkSession builder, for jobs, tests and spark-submit alike.

Jars for the Kafka source and Delta come from the Maven-resolved cache (``make setup``),
passed by local path through ``spark.jars``: nothing is resolved over the network when a
job starts. Under spark-submit with ``--jars`` (a cluster, the Docker image) the caller
has already provided them, and the builder leaves ``spark.jars`` alone.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import StructType
from pyspark.util import inheritable_thread_target

from pipelines.config import CONF_DIR, Settings
from pipelines.jobs import crash_points
from pipelines.transforms.common import spark_type

log = logging.getLogger(__name__)
_VERSIONED_JAR = re.compile(r"^(?P<artifact>.+?)-\d[\w.\-]*\.jar$")


def _artifact(jar_name: str) -> str:
    match = _VERSIONED_JAR.match(jar_name)
    return match.group("artifact") if match else jar_name


def pyspark_jars_dir() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


def extra_spark_jars(jars_dir: Path) -> list[str]:
    """Jars of the cache that pyspark does not already ship (same artifact, any version).

    Maven drags in Hadoop, Parquet, Jackson and Scala again; the copies pyspark was built
    with must win, so only artifacts new to pyspark go on the classpath.
    """
    spark_dir = jars_dir / "spark"
    if not spark_dir.is_dir() or not any(spark_dir.glob("delta-spark_*.jar")):
        raise RuntimeError(
            f"Spark jars missing under {spark_dir}: "
            "run `make setup` (resolves them from Maven Central)"
        )
    shipped = {_artifact(p.name) for p in pyspark_jars_dir().glob("*.jar")}
    return sorted(str(p) for p in spark_dir.glob("*.jar") if _artifact(p.name) not in shipped)


def sql_str(value: str) -> str:
    """``value`` as a Spark SQL string literal (for predicates built as text, such as
    Delta's replaceWhere)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def retry_on_conflict(write: Callable[[], None], attempts: int = 4, what: str = "") -> None:
    """Run a Delta write, again when a concurrent commit made it conflict (an OPTIMIZE from
    ``telemetra maintain`` rewrote files this replaceWhere reads, say). A conflicting write
    commits nothing, and the streaming writes carry txnAppId/txnVersion, so running it again
    is safe; after ``attempts`` conflicts in a row the error stands. Once it has committed,
    the write is reported to :mod:`pipelines.jobs.crash_points` (``what``: the table's path)."""
    from delta.exceptions import (
        ConcurrentAppendException,
        ConcurrentDeleteDeleteException,
        ConcurrentDeleteReadException,
        ConcurrentTransactionException,
    )

    conflicts = (
        ConcurrentAppendException,
        ConcurrentDeleteDeleteException,
        ConcurrentDeleteReadException,
        ConcurrentTransactionException,
    )
    for attempt in range(1, attempts + 1):
        try:
            write()
        except conflicts as error:
            if attempt == attempts:
                raise
            log.warning("Delta write conflicted (%s); trying again", type(error).__name__)
            time.sleep(attempt)
        else:
            crash_points.committed(what)
            return


T = TypeVar("T")


def in_parallel(
    spark: SparkSession, fn: Callable[[T], None], items: Iterable[T], workers: int
) -> None:
    """``fn`` on every item, ``workers`` at a time, each thread with the caller's Spark
    local properties (a streaming batch's query id among them) and context variables; the
    first error is raised once all have ended. Small Delta writes mostly wait on the log,
    not on CPU, so a few side by side finish sooner than one after the other even on two
    cores."""
    context = contextvars.copy_context()  # the running batch (pipelines.jobs.crash_points)

    def in_context(item: T) -> None:
        context.copy().run(fn, item)

    target = inheritable_thread_target(spark)(in_context)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(target, item) for item in items]
    for future in futures:
        future.result()


def use_pool(spark: SparkSession, pool: str) -> None:
    """Run this thread's Spark jobs (and those of its ``in_parallel`` workers) in FAIR
    scheduler pool ``pool`` (``conf/scheduler_pools.xml``: "hot" before "settle")."""
    spark.sparkContext.setLocalProperty("spark.scheduler.pool", pool)


# Generated code pays for a big micro-batch and not for a small one, whose plan holds
# literals of its own and would compile new classes every batch (see
# ``pipelines.jobs.runner.STREAMING_SQL_CONF``). Measured on 200k-record catch-up batches
# of the hot query: 34.9 s interpreted, 26.5 s generated; a batch of 8 records: 4.7 s
# interpreted, 7.5 s generated.
CODEGEN_MIN_ROWS = 50_000
G1_UNCOMMIT = "-XX:G1PeriodicGCInterval=10000 -XX:MinHeapFreeRatio=10 -XX:MaxHeapFreeRatio=30"
# The JIT compiles methods of any size. HotSpot leaves a method of more than 8,000 bytes of
# bytecode to the interpreter, and the code Spark generates for silver's check (one
# projection: the typed parse, 40 validation rules, the row's verdict) is such a method:
# the check ran 12.0 s over 1M bronze rows interpreted, 6.8 s compiled (bench/HISTORY.md).
JIT_HUGE_METHODS = "-XX:-DontCompileHugeMethods"
_FACTORY_MODE = "spark.sql.codegen.factoryMode"


def use_codegen_for(spark: SparkSession, rows: int, settings: Settings) -> None:
    """Generated code for this query's next plans if the micro-batch has ``rows`` >=
    :data:`CODEGEN_MIN_ROWS`, interpreted otherwise (unless ``spark_conf`` fixes it)."""
    if _FACTORY_MODE not in settings.spark_conf:
        spark.conf.set(_FACTORY_MODE, "FALLBACK" if rows >= CODEGEN_MIN_ROWS else "NO_CODEGEN")


@contextmanager
def session_conf(spark: SparkSession, conf: dict[str, str]) -> Iterator[None]:
    """Set these session settings for the ``with`` block, then put back what was there."""
    before = {key: spark.conf.get(key, None) for key in conf}
    for key, value in conf.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def hadoop_path(spark: SparkSession, path: str):
    """(Hadoop FileSystem, Path) for ``path``: checkpoints are read through Hadoop, so a
    local path, HDFS or an object store all work."""
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    return hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hpath


S3_LOG_STORE = "io.telemetra.delta.S3ConditionalPutLogStore"


def s3a_conf(settings: Settings) -> dict[str, str]:
    """Hadoop's S3A settings for a lake or checkpoints on ``s3a://`` (none otherwise): the
    endpoint, region and URL style of :class:`~pipelines.config.Settings`. Credentials are
    left to S3A, which reads the usual ``AWS_*`` variables (or an instance role)."""
    roots = (settings.lake_root, settings.checkpoint_root)
    if not any(root.startswith("s3a://") for root in roots):
        return {}
    conf = {
        "spark.hadoop.fs.s3a.endpoint.region": settings.s3_region,
        "spark.hadoop.fs.s3a.path.style.access": str(settings.s3_path_style).lower(),
        # What S3_LOG_STORE's If-None-Match PUT needs (Hadoop 3.4's default, said here).
        "spark.hadoop.fs.s3a.create.conditional.enabled": "true",
    }
    if settings.s3_endpoint:
        conf["spark.hadoop.fs.s3a.endpoint"] = settings.s3_endpoint
    return conf


def build_spark(settings: Settings, app_name: str = "telemetra", **extra_conf: str) -> SparkSession:
    """Create (or return the running) SparkSession with Delta and Kafka configured."""
    builder = (
        SparkSession.builder.appName(app_name)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config(
            "spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog"
        )
        .config("spark.sql.shuffle.partitions", str(settings.spark_shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
        .config(
            "spark.sql.streaming.stateStore.providerClass",
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
        )
        # Small-file hygiene on a small machine: compact as we write.
        .config("spark.databricks.delta.optimizeWrite.enabled", "true")
        .config("spark.databricks.delta.autoCompact.enabled", "true")
        .config("spark.databricks.delta.schema.autoMerge.enabled", "false")
        # Commits to an s3a:// table go through Telemetra's log store (pipelines/jvm): a
        # conditional PUT, so two processes committing the same version cannot both win.
        .config("spark.delta.logStore.s3a.impl", S3_LOG_STORE)
        .config("spark.sql.adaptive.enabled", "true")
        # Two streaming queries share the cores: the hot one's jobs go first (pool "hot").
        .config("spark.scheduler.mode", "FAIR")
        .config("spark.scheduler.allocation.file", str(CONF_DIR / "scheduler_pools.xml"))
        # Delta rebuilds a table's state with 50 tasks by default; on 2 cores that dominated
        # every small batch (a 21-row rebuild went from 585 s to 79 s with 2).
        .config("spark.databricks.delta.snapshotPartitions", str(settings.spark_shuffle_partitions))
        # PySpark 4 records the Python call site of every Column operation for error
        # messages: five Py4J round trips each. Building one micro-batch's plan took
        # 26,000 round trips (4.4 s of the batch's 5.3 s of plan building); 8,000 without.
        .config("spark.python.sql.dataFrameDebugging.enabled", "false")
        # Memory pages of sorts and hash aggregations. Spark sizes them from the heap (32 MB
        # with a 2 GB driver on 2 cores), and a demo-rate stream kept about 500 MB of such
        # long[] pages live in the driver's heap (a class histogram after a full GC); with
        # 2 MB pages, 37 MB.
        .config("spark.buffer.pageSize", "2m")
        # Executors a cluster starts for this application (local mode runs tasks in the
        # driver's JVM, started with the same flag below).
        .config("spark.executor.extraJavaOptions", JIT_HUGE_METHODS)
    )
    # Under spark-submit (it exports the gateway port to the Python driver) the master,
    # memory and --jars come from its command line; elsewhere we launch the JVM ourselves.
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        # Local mode: the driver, its block manager and UI listen on loopback only.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (
            builder.master(settings.spark_master)
            .config("spark.driver.memory", settings.spark_driver_memory)
            # G1 gives heap it no longer needs back to the system (after a concurrent cycle,
            # or every 10 s when idle): a stream at the demo rate needs a fraction of the
            # heap a catch-up batch grew it to.
            .config("spark.driver.extraJavaOptions", f"{G1_UNCOMMIT} {JIT_HUGE_METHODS}")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.jars", ",".join(extra_spark_jars(settings.jars_path)))
            # Python workers use this interpreter (the venv), not whatever python3 is on PATH.
            .config("spark.pyspark.python", sys.executable)
        )
    for key, value in {**s3a_conf(settings), **settings.spark_conf, **extra_conf}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN" if settings.log_level != "DEBUG" else "INFO")
    if not spark.sparkContext.master.startswith("local"):
        ship_package(spark)
    return spark


def ship_package(spark: SparkSession) -> None:
    """Give executors on other machines the ``pipelines`` package this driver runs (for any
    Python a query runs there), as a zip added with ``addPyFile``.

    Not spark-submit's ``--py-files``: that also puts the zip first on the driver's own
    path, and a driver importing ``pipelines`` from a zip finds no ``conf/`` beside it.
    """
    import atexit

    import pipelines

    fd, target = tempfile.mkstemp(prefix="telemetra-pipelines-", suffix=".zip")
    os.close(fd)
    package = Path(pipelines.__file__).parent
    with zipfile.ZipFile(target, "w") as zf:
        for path in package.rglob("*.py"):
            zf.write(path, Path("pipelines") / path.relative_to(package))
    spark.sparkContext.addPyFile(target)
    # Executors fetch it from the driver's file server while the application runs.
    atexit.register(os.unlink, target)


def small_frame(
    spark: SparkSession, rows: list[tuple], schema: StructType | pa.Schema
) -> DataFrame:
    """A driver-side table as a DataFrame held in the JVM (through Arrow): scanning it
    needs no Python worker, unlike ``createDataFrame(list)``, which is slow on every join."""
    if isinstance(schema, pa.Schema):
        arrow_schema, schema = schema, spark_type(schema)
    else:
        arrow_schema = to_arrow_schema(schema)
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in arrow_schema]
    table = pa.Table.from_arrays(
        [pa.array(list(c), f.type) for c, f in zip(columns, arrow_schema, strict=True)],
        schema=arrow_schema,
    )
    return spark.createDataFrame(table, schema)
