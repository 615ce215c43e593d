"""Commands fail in one line that names the cause, never with a stack trace (issue 21)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql.types import StringType, StructField, StructType

from pipelines.ops.cli import _one_line

TELEMETRA = Path(sys.executable).with_name("telemetra")


@pytest.mark.parametrize(
    "args", [["run", "all", "--mode", "batch"], ["maintain"], ["quality", "--layer", "gold"]]
)
def test_an_unwritable_lake_fails_in_one_line_naming_the_path(tmp_path, args):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    lake = blocker / "lake"  # even root cannot make a directory under a file
    env = {**os.environ, "TELEMETRA_LAKE_ROOT": str(lake), "LOG_LEVEL": "WARNING"}
    done = subprocess.run([str(TELEMETRA), *args], env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines == [f"telemetra: lake_root {lake} is not writable: Not a directory"], done.stderr


def test_a_spark_error_becomes_one_line_with_its_error_class(spark, tmp_path):
    """What the lake's first write gives where the pre-check cannot look (an object store):
    a Py4J error whose text runs to hundreds of lines of JVM stack."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    table = DeltaTable.createIfNotExists(spark).location(str(blocker / "t"))
    with pytest.raises(Exception) as caught:
        table.addColumns(StructType([StructField("a", StringType())])).execute()
    assert len(str(caught.value).splitlines()) > 100
    line = _one_line(caught.value)
    assert line == f"[DELTA_CANNOT_CREATE_LOG_PATH] Cannot create file:{blocker}/t/_delta_log"
