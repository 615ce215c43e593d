"""Config: defaults file, environment overrides with the seed's names, one-line errors."""

from __future__ import annotations

import pytest

from pipelines.config import ConfigError, load_settings


@pytest.fixture
def clean_env(monkeypatch):
    for key in (
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_LOG_RETENTION_HOURS",
        "PRODUCER_RATE_PER_SEC",
        "PRODUCER_CHANNELS",
        "LOG_LEVEL",
        "TELEMETRA_LAKE_ROOT",
        "TELEMETRA_WINDOW_SECONDS",
        "TELEMETRA_SLIDE_SECONDS",
        "TELEMETRA_KAFKA_BOOTSTRAP_SERVERS",
        "TELEMETRA_S3_ENDPOINT",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL",
        "TELEMETRA_S3_REGION",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "TELEMETRA_S3_PATH_STYLE",
    ):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_defaults_come_from_the_yaml_file(clean_env):
    s = load_settings()
    assert s.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert s.producer_channels == "demo_stream"
    assert s.producer_rate_per_sec == 10.0
    assert (s.window_seconds, s.slide_seconds) == (60, 10)
    assert s.topics == [
        "telemetra.events.chat",
        "telemetra.events.viewer",
        "telemetra.events.transactions",
        "telemetra.events.stream_meta",
    ]


def test_seed_environment_names_override(clean_env):
    clean_env.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker-a:29092")
    clean_env.setenv("KAFKA_LOG_RETENTION_HOURS", "6")
    clean_env.setenv("PRODUCER_RATE_PER_SEC", "250")
    clean_env.setenv("PRODUCER_CHANNELS", "alpha, beta,gamma")
    clean_env.setenv("LOG_LEVEL", "DEBUG")
    s = load_settings()
    assert s.kafka_bootstrap_servers == "broker-a:29092"
    assert s.kafka_log_retention_hours == 6
    assert s.producer_rate_per_sec == 250
    assert s.channels == ["alpha", "beta", "gamma"]
    assert s.log_level == "DEBUG"


def test_telemetra_prefixed_keys_override(clean_env):
    clean_env.setenv("TELEMETRA_LAKE_ROOT", "s3a://bucket/lake")
    s = load_settings()
    assert s.table_path("gold", "moments") == "s3a://bucket/lake/gold/moments"
    assert s.checkpoint_path("silver") == "s3a://bucket/lake/_checkpoints/silver"


def test_an_s3_lake_takes_endpoint_and_region_from_the_aws_names(clean_env):
    from pipelines.jobs.spark import s3a_conf

    clean_env.setenv("TELEMETRA_LAKE_ROOT", "s3a://bucket/lake")
    clean_env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:8333")
    clean_env.setenv("AWS_REGION", "eu-west-1")
    assert s3a_conf(load_settings()) == {
        "spark.hadoop.fs.s3a.endpoint": "http://127.0.0.1:8333",
        "spark.hadoop.fs.s3a.endpoint.region": "eu-west-1",
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.create.conditional.enabled": "true",
    }
    # the readers (delta-rs) get the same endpoint and region under object_store's names
    assert load_settings().storage_options == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:8333",
        "AWS_ALLOW_HTTP": "true",
        "AWS_REGION": "eu-west-1",
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
    }
    # the S3-only name wins over the generic one, Telemetra's own over both
    clean_env.setenv("AWS_ENDPOINT_URL_S3", "http://s3.internal:9000")
    assert load_settings().s3_endpoint == "http://s3.internal:9000"
    clean_env.setenv("TELEMETRA_S3_ENDPOINT", "http://mine:8333")
    clean_env.setenv("TELEMETRA_S3_PATH_STYLE", "false")
    conf = s3a_conf(load_settings())
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://mine:8333"
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "false"


def test_a_local_lake_sets_no_s3_options(clean_env):
    from pipelines.jobs.spark import s3a_conf

    clean_env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:8333")
    assert s3a_conf(load_settings(lake_root="/tmp/lake")) == {}
    assert load_settings(lake_root="/tmp/lake").storage_options is None
    # checkpoints alone on S3 still need the options
    on_s3 = load_settings(lake_root="/tmp/lake", checkpoint_root="s3a://bucket/ck")
    assert s3a_conf(on_s3)["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:8333"


@pytest.mark.parametrize(
    ("key", "value", "expected_words"),
    [
        ("PRODUCER_RATE_PER_SEC", "fast", ["PRODUCER_RATE_PER_SEC", "number"]),
        ("PRODUCER_RATE_PER_SEC", "-3", ["PRODUCER_RATE_PER_SEC", "greater than 0"]),
        ("LOG_LEVEL", "LOUD", ["LOG_LEVEL", "DEBUG"]),
        ("TELEMETRA_SLIDE_SECONDS", "7", ["SLIDE_SECONDS", "divide"]),
        ("TELEMETRA_MOMENT_FRESH_GAP_SECONDS", "20", ["FRESH_GAP_SECONDS", "at least"]),
        ("AWS_REGION", "", ["TELEMETRA_S3_REGION", "at least 1 character"]),
    ],
)
def test_bad_value_gives_one_line_naming_the_key(clean_env, key, value, expected_words):
    clean_env.setenv(key, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message
    for word in expected_words:
        assert word in message


def test_cli_reports_bad_config_in_one_line(clean_env):
    import subprocess
    import sys

    env = {"PRODUCER_RATE_PER_SEC": "lots", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.ops.cli", "kafka", "status"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "PRODUCER_RATE_PER_SEC" in lines[0]


def test_relative_lake_root_is_anchored_at_the_project(clean_env):
    from pipelines.config import PROJECT_ROOT

    s = load_settings(lake_root="lake")
    assert s.lake_root == str(PROJECT_ROOT / "lake")
    assert load_settings(lake_root="s3a://bucket/lake").lake_root == "s3a://bucket/lake"
