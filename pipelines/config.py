"""Typed configuration, read once at an entry point and passed down.

Defaults live in ``conf/defaults.yaml``. Environment variables override them:
``TELEMETRA_<KEY>`` for every key, plus the seed's names (``KAFKA_BOOTSTRAP_SERVERS``,
``KAFKA_LOG_RETENTION_HOURS``, ``PRODUCER_RATE_PER_SEC``, ``PRODUCER_CHANNELS``,
``LOG_LEVEL``). A git-ignored ``conf/local.env`` sits between the two.
Transformations never read the environment: they get a ``Settings`` (or plain values).
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from pipelines.core.contract import EVENT_TYPES  # noqa: F401 (config's callers take it here)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = PROJECT_ROOT / "conf"
DEFAULTS_FILE = CONF_DIR / "defaults.yaml"
LOCAL_ENV_FILE = CONF_DIR / "local.env"

# Topic suffix per event type: telemetra.events.{chat,viewer,transactions,stream_meta}.
TOPIC_SUFFIX = {
    "chat": "chat",
    "viewer": "viewer",
    "transaction": "transactions",
    "stream_meta": "stream_meta",
}


def _seed_alias(name: str) -> AliasChoices:
    """Accept both TELEMETRA_<NAME> and the seed's bare <NAME>."""
    return AliasChoices(f"TELEMETRA_{name}", name, name.lower())


class ConfigError(ValueError):
    """A configuration value is wrong; the message is one line naming the key."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TELEMETRA_",
        env_file=LOCAL_ENV_FILE,
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
    )

    # Kafka
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", validation_alias=_seed_alias("KAFKA_BOOTSTRAP_SERVERS")
    )
    kafka_topic_prefix: str = "telemetra.events"
    kafka_partitions: int = Field(2, ge=1, le=64)
    kafka_log_retention_hours: float = Field(
        168, gt=0, validation_alias=_seed_alias("KAFKA_LOG_RETENTION_HOURS")
    )
    kafka_heap: str = Field("512m", pattern=r"^\d+[mMgG]$")
    kafka_port: int = Field(9092, ge=1024, le=65533)
    kafka_wait_seconds: float = Field(120, gt=0)

    # Producer
    producer_channels: str = Field(
        "demo_stream", min_length=1, validation_alias=_seed_alias("PRODUCER_CHANNELS")
    )
    producer_rate_per_sec: float = Field(
        10.0, gt=0, validation_alias=_seed_alias("PRODUCER_RATE_PER_SEC")
    )
    producer_seed: int = 42
    producer_bad_ratio: float = Field(0.0, ge=0, le=1)

    # Live Twitch chat (pipelines/sources/twitch_live.py): ircs://host:port is TLS.
    # With twitch_channels set, `telemetra up` follows them instead of the demo producer.
    twitch_irc_url: str = "ircs://irc.chat.twitch.tv:6697"
    twitch_channels: str = Field("", validation_alias=_seed_alias("TWITCH_CHANNELS"))
    # Helix Get Streams (viewers, title, category): only with both set, from the environment.
    twitch_client_id: str = Field("", validation_alias=_seed_alias("TWITCH_CLIENT_ID"))
    twitch_client_secret: str = Field("", validation_alias=_seed_alias("TWITCH_CLIENT_SECRET"))
    twitch_helix_url: str = "https://api.twitch.tv/helix"
    twitch_auth_url: str = "https://id.twitch.tv/oauth2/token"
    twitch_poll_seconds: int = Field(30, ge=5)

    # Lake and runtime
    lake_root: str = "lake"
    checkpoint_root: str = ""
    # A lake on S3 or an S3-compatible server (lake_root=s3a://bucket/prefix): the endpoint
    # (empty: AWS itself) and region, under the AWS SDK's own names too. Path-style URLs
    # (http://host/bucket/key) unless set otherwise: what S3-compatible servers expect, AWS
    # accepts them. Credentials are never settings: S3A reads AWS_ACCESS_KEY_ID,
    # AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN from the environment, or an instance role.
    s3_endpoint: str = Field(
        "",
        validation_alias=AliasChoices(
            "TELEMETRA_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "s3_endpoint"
        ),
    )
    s3_region: str = Field(
        "us-east-1",
        min_length=1,
        validation_alias=AliasChoices(
            "TELEMETRA_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION", "s3_region"
        ),
    )
    s3_path_style: bool = True
    run_dir: str = ".run"
    jars_dir: str = ".cache/jars"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias=_seed_alias("LOG_LEVEL")
    )

    # Spark
    spark_master: str = "local[2]"
    spark_shuffle_partitions: int = Field(2, ge=1)
    spark_driver_memory: str = Field("1536m", pattern=r"^\d+[mMgG]$")
    spark_trigger_seconds: int = Field(1, ge=1)
    # The settle step (windows, gold, moments) runs on its own, slower cadence.
    settle_seconds: int = Field(30, ge=1)
    # Extra Spark settings, applied after Telemetra's own (env: a JSON object).
    spark_conf: dict[str, str] = Field(default_factory=dict)
    kafka_starting_offsets: Literal["earliest", "latest"] = "earliest"
    kafka_fail_on_data_loss: bool = True
    kafka_max_offsets_per_trigger: int = Field(200_000, ge=1)

    # Windows
    window_seconds: int = Field(60, ge=1)
    slide_seconds: int = Field(10, ge=1)
    watermark_seconds: int = Field(120, ge=0)
    max_future_seconds: int = Field(300, ge=0)
    max_message_bytes: int = Field(65_536, ge=256)
    # Event times before this are impossible for a live stream: bad_timestamp.
    min_event_date: date = date(2005, 1, 1)
    top_emotes: int = Field(5, ge=1, le=50)

    # Moments
    moment_baseline_seconds: int = Field(600, ge=60)
    moment_min_baseline_windows: int = Field(12, ge=2)
    # Chat spikes (see pipelines/transforms/gold_moments.py): score = min(robust z of the
    # distinct chatters, combined robust z of chorus share, shortness and fresh chatters) over
    # 30-s windows; at least chat_min_count messages in the window and chat_min_seconds
    # between the first and last flagged window; start_ts = first window - reaction lag.
    moment_chat_z: float = Field(2.5, gt=0)
    moment_chat_min_count: int = Field(15, ge=0)
    moment_chat_window_seconds: int = Field(30, ge=10)
    moment_chat_min_seconds: int = Field(20, ge=0)
    moment_fresh_gap_seconds: int = Field(600, ge=0)
    moment_reaction_lag_seconds: int = Field(15, ge=0)
    moment_viewer_jump_ratio: float = Field(0.3, gt=0)
    moment_viewer_min_jump: int = Field(100, ge=0)
    moment_revenue_z: float = Field(8.0, gt=0)
    moment_revenue_min: float = Field(50.0, ge=0)
    moment_sentiment_z: float = Field(4.0, gt=0)
    moment_sentiment_min_messages: int = Field(30, ge=0)
    moment_sentiment_std_floor: float = Field(0.05, gt=0)
    moment_merge_gap_seconds: int = Field(10, ge=0)

    base_currency: str = Field("USD", pattern=r"^[A-Z]{3}$")

    # App
    app_host: str = "127.0.0.1"
    app_port: int = Field(8501, ge=1024, le=65535)
    app_refresh_seconds: int = Field(2, ge=1)

    # HTTP/WebSocket API (telemetra api). Without api_key it serves on loopback only.
    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=1024, le=65535)
    api_key: str = Field("", validation_alias=_seed_alias("API_KEY"))
    api_poll_seconds: float = Field(0.5, gt=0, le=10)  # how often /live looks for new data
    api_keepalive_seconds: int = Field(10, ge=1, le=600)
    # Each new moment is POSTed once to every URL here (comma-separated).
    alert_webhook_urls: str = Field("", validation_alias=_seed_alias("ALERT_WEBHOOK_URLS"))
    webhook_max_attempts: int = Field(8, ge=1, le=100)

    # Quality
    quality_suites_file: str = "conf/quality.yaml"
    quality_reports_dir: str = ""
    quality_max_quarantine_rate: float = Field(0.05, ge=0, le=1)
    quality_quarantine_lookback_minutes: int = Field(60, ge=0)
    quality_freshness_max_age_seconds: int = Field(300, ge=1)
    quality_interval_seconds: int = Field(300, ge=10)
    quality_report_retention_hours: float = Field(48.0, gt=0)
    quality_driver_memory: str = Field("768m", pattern=r"^\d+[mMgG]$")

    # Tests only: "<query>:<batch id>:<k>" SIGKILLs the pipeline right after the k-th
    # Delta commit of that query's micro-batch (pipelines.jobs.crash_points). Empty: off.
    test_kill_after_commit: str = Field("", pattern=r"^([a-z]+:\d+:[1-9]\d*)?$")

    @field_validator("lake_root", "checkpoint_root")
    @classmethod
    def _absolute_local_path(cls, value: str) -> str:
        """A relative local path is taken from the project root; Spark and Delta reject
        relative locations, and every process then agrees on one place. URIs stay as given."""
        if not value or "://" in value or Path(value).is_absolute():
            return value
        return str((PROJECT_ROOT / value).resolve())

    @field_validator("slide_seconds")
    @classmethod
    def _slide_divides_window(cls, slide: int, info) -> int:
        window = info.data.get("window_seconds")
        if window is not None and window % slide != 0:
            raise ValueError(f"must divide window_seconds ({window}) evenly")
        return slide

    @field_validator("moment_chat_window_seconds")
    @classmethod
    def _chat_window_in_slides(cls, window: int, info) -> int:
        slide = info.data.get("slide_seconds")
        if slide and window % slide != 0:
            raise ValueError(f"must be a multiple of slide_seconds ({slide})")
        return window

    @field_validator("moment_fresh_gap_seconds")
    @classmethod
    def _fresh_at_most_once_a_window(cls, gap: int, info) -> int:
        # The chat signals count a chatter fresh by the first message in a window only
        # (pipelines/transforms/chat_signals.py).
        window = info.data.get("moment_chat_window_seconds")
        if window is not None and gap < window:
            raise ValueError(f"must be at least moment_chat_window_seconds ({window})")
        return gap

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = os.environ.get("TELEMETRA_CONFIG_FILE", str(DEFAULTS_FILE))
        yaml_source = YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file)
        return (init_settings, env_settings, dotenv_settings, yaml_source)

    # ---- derived values -------------------------------------------------------
    @property
    def channels(self) -> list[str]:
        return [c.strip() for c in self.producer_channels.split(",") if c.strip()]

    def topic(self, event_type: str) -> str:
        return f"{self.kafka_topic_prefix}.{TOPIC_SUFFIX[event_type]}"

    @property
    def topics(self) -> list[str]:
        return [self.topic(t) for t in EVENT_TYPES]

    def table_path(self, layer: str, table: str) -> str:
        """Where a table of the catalog (``pipelines.core.catalog``) lives in this lake."""
        from pipelines.core import catalog  # it imports pyspark's types: only when asked

        return catalog.table(layer, table).path(self.lake_root)

    def checkpoint_path(self, name: str) -> str:
        root = self.checkpoint_root or f"{self.lake_root.rstrip('/')}/_checkpoints"
        return f"{root.rstrip('/')}/{name}"

    @property
    def storage_options(self) -> dict[str, str] | None:
        """How the readers (``deltalake``, and DuckDB through it) reach an ``s3a://`` lake:
        the endpoint, region and URL style S3A gets from :func:`pipelines.jobs.spark.s3a_conf`,
        under object_store's names. None for a lake on disk. Credentials, again, are not
        here: delta-rs reads the same ``AWS_*`` variables S3A does."""
        if not self.lake_root.startswith("s3a://"):
            return None
        options = {
            "AWS_REGION": self.s3_region,
            "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": str(not self.s3_path_style).lower(),
        }
        if self.s3_endpoint:
            options["AWS_ENDPOINT_URL"] = self.s3_endpoint
            options["AWS_ALLOW_HTTP"] = str(self.s3_endpoint.startswith("http://")).lower()
        return options

    @property
    def webhook_urls(self) -> list[str]:
        return [u.strip() for u in self.alert_webhook_urls.split(",") if u.strip()]

    @property
    def run_path(self) -> Path:
        return _project_path(self.run_dir)

    @property
    def jars_path(self) -> Path:
        return _project_path(self.jars_dir)


def _project_path(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else PROJECT_ROOT / path


def load_settings(**overrides) -> Settings:
    """Read the configuration once; raise ConfigError with a one-line reason when it is bad."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = str(err["loc"][0]) if err.get("loc") else "config"
        message = err["msg"].removeprefix("Value error, ")
        raise ConfigError(
            f"config key {_env_name(loc)}: {message} (got {err.get('input')!r})"
        ) from None


def _env_name(loc: str) -> str:
    """The environment name a user would set for a field: the seed's name where there is one."""
    field = loc.lower().removeprefix("telemetra_")
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    has_seed_name = isinstance(alias, AliasChoices) and field.upper() in alias.choices
    return field.upper() if has_seed_name else f"TELEMETRA_{field.upper()}"


# Libraries that narrate every connection or expectation at INFO.
_CHATTY_LOGGERS = ("kafka", "great_expectations", "py4j")


def configure_logging(settings: Settings) -> None:
    """Log at ``LOG_LEVEL``; the chatty libraries only from WARNING up."""
    level = logging.getLevelName(settings.log_level)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, level))


def entry_point_settings() -> Settings:
    """Settings for a spark-submit entry point: a bad value ends it with one line (exit 2)."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"telemetra: {exc}", file=sys.stderr)
        sys.exit(2)
    configure_logging(settings)
    return settings
