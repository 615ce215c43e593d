"""Shared fixtures: one SparkSession for the whole run, settings on tmp paths, the broker."""

from __future__ import annotations

import sys

import pytest

from pipelines.config import Settings, load_settings

# The longest test files, started first: with `make test`'s two workers (pytest-xdist, a
# file at a time) they then run beside the many short ones instead of after them.
SLOW_FILES = (
    "test_crash_boundaries.py",
    "test_cluster.py",
    "test_faults.py",
    "test_pipeline_e2e.py",
    "test_s3_lake.py",
    "test_gold_job.py",
    "test_quality.py",
)


def pytest_collection_modifyitems(config, items):
    # A test that uses the Spark session (directly or through a fixture) is marked
    # ``spark``: `make test-unit` leaves these out and never starts a JVM.
    for item in items:
        if "spark" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.spark)
    rank = {name: i for i, name in enumerate(SLOW_FILES)}
    # A stable sort: each file's tests stay together and in their own order.
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FILES)))


@pytest.fixture(autouse=True)
def _keep_main_module():
    """Streamlit's AppTest swaps ``sys.modules["__main__"]`` for the app script and leaves it.

    Spawned processes (the producer's workers) re-import ``__main__`` by path, and the app
    script does not import outside Streamlit, so a later test would fail for a reason that
    is not its own. Put the real ``__main__`` back after every test.
    """
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(scope="session")
def base_settings(tmp_path_factory) -> Settings:
    """Settings for tests: a lake under tmp, small shuffle partitions."""
    root = tmp_path_factory.mktemp("lake")
    return load_settings(lake_root=str(root), spark_shuffle_partitions=2)


@pytest.fixture
def settings(base_settings, tmp_path) -> Settings:
    """Per-test settings with a lake of its own under tmp_path."""
    return base_settings.model_copy(update={"lake_root": str(tmp_path / "lake")})


@pytest.fixture(scope="session")
def spark(base_settings):
    """The one SparkSession of the test run (local[2], UI off, Delta and Kafka jars).

    Interpreted expressions, as the streaming queries run in production
    (``runner.STREAMING_SQL_CONF``): on the tests' small data, compiling generated code for
    every plan costs more than it saves (test_gold_job.py: 233 s with code generation,
    180 s without). The batch rebuild keeps code generation in production;
    ``test_pipeline_e2e.py`` rebuilds with it, so both ways stay tested."""
    from pipelines.jobs.spark import build_spark

    session = build_spark(
        base_settings,
        app_name="telemetra-tests",
        **{"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2",
           "spark.sql.codegen.factoryMode": "NO_CODEGEN"},
    )  # fmt: skip
    yield session
    session.stop()


@pytest.fixture(scope="session")
def kafka_broker(base_settings, tmp_path_factory):
    """A real single-node Kafka broker for the whole test run, on free ports under tmp.

    Yields Settings pointing at it. Tests that need topics of their own use ``kafka_settings``.
    """
    from kafka_helpers import LocalBroker

    broker = LocalBroker(base_settings, tmp_path_factory.mktemp("kafka"))
    try:
        yield broker.start()
    finally:
        broker.stop()


@pytest.fixture
def kafka_settings(kafka_broker, tmp_path):
    """Settings with a fresh topic prefix (four new, empty topics) and a lake under tmp_path."""
    from kafka_helpers import with_fresh_topics

    return with_fresh_topics(kafka_broker, tmp_path, "test")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3-compatible server (SeaweedFS, built by `make seaweedfs`) for the run, on free
    loopback ports; the dummy credentials S3A and delta-rs read from the environment."""
    import os

    from s3_helpers import DUMMY_CREDENTIALS

    from pipelines.ops.s3_local import LocalS3

    saved = {k: os.environ.get(k) for k in DUMMY_CREDENTIALS}
    os.environ.update(DUMMY_CREDENTIALS)
    server = LocalS3(tmp_path_factory.mktemp("s3")).start()
    try:
        yield server
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
