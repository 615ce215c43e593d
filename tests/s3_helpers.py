"""The lake on a real S3-compatible server: SeaweedFS (``pipelines.ops.s3_local``) on free
loopback ports, one bucket per test module.

SeaweedFS with no identities configured accepts any credentials; the tests still set
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (dummies) because S3A and delta-rs both want
some, read from the environment as in production.
"""

from __future__ import annotations

import uuid

from pipelines.config import Settings

DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "telemetra-test", "AWS_SECRET_ACCESS_KEY": "not-a-secret"}


def s3_lake(settings: Settings, server, prefix: str) -> Settings:
    """``settings`` with the lake (and its checkpoints) in a new bucket of ``server``."""
    bucket = f"{prefix}-{uuid.uuid4().hex[:8]}"
    server.create_bucket(bucket)
    return settings.model_copy(
        update={"lake_root": f"s3a://{bucket}/lake", "s3_endpoint": server.endpoint}
    )


def point_session_at(spark, settings: Settings) -> None:
    """Give the running test session what ``build_spark`` gives a job's session for an
    s3a:// lake (``s3a_conf``), plus the dummy credentials: the session's JVM started before
    the server, so it cannot read them from its environment. Set before the bucket's first
    use, they reach its S3A filesystem (Hadoop caches one per bucket)."""
    from pipelines.jobs.spark import s3a_conf

    conf = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in s3a_conf(settings).items():
        conf.set(key.removeprefix("spark.hadoop."), value)
    conf.set("fs.s3a.access.key", DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"])
    conf.set("fs.s3a.secret.key", DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
