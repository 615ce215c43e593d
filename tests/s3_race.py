"""Two writers in two JVMs racing for the same Delta commit on S3 (``test_s3_lake.py``).

Each writer is a Spark driver: the test session's, and one more started by running this
file. Both call a Delta log store's ``write`` of the same ``<round>.json`` (overwrite off, as
a commit does) at the same wall-clock instant, round after round, and note which writes the
store reported as done. A commit is lost when the store reported a write whose content is not
what the object ends up holding.

Then both append to one Delta table through Delta itself, and note each append Delta
reported as committed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

DEFAULT_STORE = "io.delta.storage.S3SingleDriverLogStore"
# Each commit file carries this much padding: a longer PUT widens Delta's own store's window
# between its exists check and its PUT, so the two writers meet there even on a loaded box.
PADDING = "x" * 256 * 1024


def race_log_store(spark, store_class: str, log_dir: str, who: str, t0: float, rounds: int,
                   slot_s: float) -> list[str]:  # fmt: skip
    """Write ``<log_dir>/<r>.json`` at ``t0 + r * slot_s`` for each round r; what the store
    said of each write: "done", or FileAlreadyExistsException because the object was there
    before this writer's PUT ("existed": the other writer was faster) or because the PUT
    itself was refused ("refused": both PUT at once, the conditional PUT stopped this one)."""
    from py4j.protocol import Py4JJavaError

    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    store_type = jvm
    for name in store_class.split("."):
        store_type = getattr(store_type, name)
    store = store_type(conf)
    said = []
    for r in range(rounds):
        lines = jvm.java.util.ArrayList()
        lines.add(json.dumps({"commitInfo": {"writer": who, "round": r, "pad": PADDING}}))
        path = jvm.org.apache.hadoop.fs.Path(f"{log_dir}/{r:020d}.json")
        time.sleep(max(0.0, t0 + r * slot_s - time.time()))
        try:
            store.write(path, lines.iterator(), False, conf)
            said.append("done")
        except Py4JJavaError as e:
            if e.java_exception.getClass().getName() != "java.nio.file.FileAlreadyExistsException":
                raise
            cause = e.java_exception.getCause()  # Telemetra's store: what S3A raised
            existed = cause is None or "FileAlreadyExists" in cause.getClass().getName()
            said.append("existed" if existed else "refused")
    return said


def log_dir(lake: str, store_class: str) -> str:
    """The commit folder a store's race writes to under ``lake``."""
    return f"{lake}/race/{store_class.rpartition('.')[2]}/_delta_log"


def one_writer(spark, lake: str, who: str, t0: float, stores: list[str], rounds: int,
               slot_s: float, appends: int) -> dict:  # fmt: skip
    """One writer's whole part, from ``t0``: the log-store race for each store in turn, then
    the appends to ``<lake>/appends``. Both writers run it with the same arguments."""
    said = {}
    for store in stores:
        said[store] = race_log_store(spark, store, log_dir(lake, store), who, t0, rounds, slot_s)
        t0 += rounds * slot_s + 2
    return {"stores": said, "appends": append_rows(spark, f"{lake}/appends", who, t0, appends)}


def append_rows(spark, table: str, who: str, t0: float, appends: int) -> list[int]:
    """Append one row (who, seq) per commit from ``t0`` on; the seqs Delta reported done."""
    time.sleep(max(0.0, t0 - time.time()))
    done = []
    for seq in range(appends):
        spark.createDataFrame([(who, seq)], "writer string, seq int").write.format("delta").mode(
            "append"
        ).save(table)
        done.append(seq)
    return done


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lake", required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--rounds", type=int, required=True)
    parser.add_argument("--slot", type=float, required=True)
    parser.add_argument("--appends", type=int, required=True)
    parser.add_argument("--stores", required=True)  # comma-separated classes, in order
    args = parser.parse_args()

    from pipelines.config import load_settings
    from pipelines.jobs.spark import build_spark

    settings = load_settings(lake_root=args.lake, s3_endpoint=args.endpoint)
    spark = build_spark(
        settings, "race-writer", **{"spark.master": "local[1]", "spark.ui.enabled": "false"}
    )
    # Ready when the bucket's S3A filesystem is: then the start instant comes on stdin.
    from pipelines.jobs.spark import hadoop_path

    fs, path = hadoop_path(spark, args.lake)
    fs.exists(path)
    print("ready", flush=True)
    t0 = float(sys.stdin.readline())
    stores = args.stores.split(",")
    result = one_writer(
        spark, args.lake, "subprocess", t0, stores, args.rounds, args.slot, args.appends
    )
    json.dump(result, sys.stdout)
    spark.stop()


if __name__ == "__main__":
    main()
