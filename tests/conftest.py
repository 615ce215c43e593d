"""Shared fixtures: one SparkSession for the whole run, settings on tmp paths, the broker."""

from __future__ import annotations

import pytest

from pipelines.config import Settings, load_settings


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
    """The one SparkSession of the test run (local[2], UI off, Delta and Kafka jars)."""
    from pipelines.spark import build_spark

    session = build_spark(
        base_settings,
        app_name="telemetra-tests",
        **{"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2"},
    )
    yield session
    session.stop()
