"""Data quality: the suites of ``conf/quality.yaml`` validated by Great Expectations 1.x.

``run_quality(spark, settings, layer)`` reads each table of the layer (and computes each
cross-table check of ``pipelines.quality.quality_checks``), validates it with GE on Spark, writes
Data Docs HTML under ``<reports>/data_docs/``, appends one row per table to
``gold/quality_runs`` and returns a ``QualityReport``. The gate, the scheduled loop and
the spark-submit entry point are in ``pipelines.quality.quality_job``.

GE runs with a *file* context under ``<reports>/gx`` (``<reports>`` is ``<lake_root>/reports``
for a local lake): GE's Data Docs index lists the validation results its store holds and
deletes pages whose results are gone, so an ephemeral context would wipe every earlier run
(and the other layers' latest pages) on each run. Suites, validation definitions and
checkpoints are rebuilt from the YAML on every run, so the YAML stays the one source;
results older than ``quality_report_retention_hours`` are pruned, pages with them. A file
lock serializes runs (the scheduled loop, a gate, a manual run) over the shared folder.
"""

from __future__ import annotations

import fcntl
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote, urlparse

from pyspark.sql import SparkSession

from pipelines.config import Settings
from pipelines.core.schemas import QUALITY_RUNS
from pipelines.quality.quality_checks import CHECKS, read_table
from pipelines.quality.quality_report import QualityReport, TableResult, outcome_of
from pipelines.quality.quality_suites import LAYERS, QualityConfigError, SuiteSpec, load_suites
from pipelines.transforms.common import spark_type

log = logging.getLogger(__name__)

SITE = "telemetra"
DATASOURCE = "telemetra_spark"
BATCH = "whole_table"
# SUMMARY adds value counts of the unexpected values: more Spark jobs for little gain here.
RESULT_FORMAT = {"result_format": "BASIC"}
INDEX_LIMIT = 200  # validation results the Data Docs index lists (newest first)

__all__ = [
    "QualityConfigError",
    "QualityReport",
    "TableResult",
    "docs_index",
    "reports_dir",
    "run_quality",
    "write_quality_runs",
]


def reports_dir(settings: Settings) -> Path:
    """Where GE's project and the Data Docs live: a local folder, even for a remote lake."""
    if settings.quality_reports_dir:
        return Path(settings.quality_reports_dir).resolve()
    parsed = urlparse(settings.lake_root)
    if parsed.scheme in ("", "file") or len(parsed.scheme) == 1:  # 1: a Windows drive
        local = parsed.path if parsed.scheme == "file" else settings.lake_root
        return (Path(local) / "reports").resolve()
    return settings.run_path / "reports"


def docs_index(settings: Settings) -> Path:
    return reports_dir(settings) / "data_docs" / "index.html"


def run_quality(spark: SparkSession, settings: Settings, layer: str = "all") -> QualityReport:
    """Validate every table and check of ``layer`` (bronze | silver | gold | all)."""
    if layer != "all" and layer not in LAYERS:
        raise ValueError(f"layer must be one of bronze, silver, gold, all; got {layer!r}")
    suites = load_suites(settings, layer)
    run_time = datetime.now(timezone.utc)
    run_id = f"{run_time:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    reports = reports_dir(settings)
    with _exclusive(reports):
        context = _context(reports)
        results = [_validate(spark, settings, context, spec, run_id, run_time) for spec in suites]
        _publish_docs(context, reports, results, settings.quality_report_retention_hours)
    report = QualityReport(run_id, run_time, layer, results, str(docs_index(settings)))
    write_quality_runs(spark, settings, report)
    return report


def write_quality_runs(spark: SparkSession, settings: Settings, report: QualityReport) -> None:
    """Append the report's rows to ``gold/quality_runs`` (created by the first append)."""
    rows = report.rows()
    if rows:
        frame = spark.createDataFrame(rows, spark_type(QUALITY_RUNS))
        frame.write.format("delta").mode("append").save(settings.table_path("gold", "quality_runs"))


# ---- one table --------------------------------------------------------------------------
def _validate(spark, settings, context, spec: SuiteSpec, run_id: str, now: datetime) -> TableResult:
    started = time.monotonic()
    result = TableResult(spec.layer, spec.table, status="missing")
    try:
        observed = None
        if spec.check:
            computed = CHECKS[spec.table](spark, settings, now)
            frame = computed.frame if computed else None
            observed = computed.observed_value if computed else None
        else:
            frame = read_table(spark, settings, spec.layer, spec.table)
        if frame is not None:
            result = _run_checkpoint(context, spec, frame, run_id, now)
            result.observed_value = observed
    except QualityConfigError:
        raise
    except Exception as exc:  # one unreadable table must not hide the others' results
        log.exception("quality: %s could not be validated", spec.name)
        result = TableResult(spec.layer, spec.table, status="error", error=_one_line(exc))
    result.duration_seconds = time.monotonic() - started
    return result


def _run_checkpoint(context, spec: SuiteSpec, frame, run_id: str, now: datetime) -> TableResult:
    from great_expectations.core.run_identifier import RunIdentifier

    checkpoint = _checkpoint(context, spec)
    run = checkpoint.run(
        batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_id, run_time=now)
    )
    (key, validation), *_ = run.run_results.items()
    outcomes = tuple(outcome_of(spec.name, r) for r in validation.results)
    # GE's own row count metric is not in BASIC results; a count on a tiny check frame or
    # a Delta table (answered from file statistics) is cheap.
    rows = frame.count()
    return TableResult(spec.layer, spec.table, "done", outcomes, row_count=rows, result_key=key)


def _checkpoint(context, spec: SuiteSpec):
    import great_expectations as gx

    source = context.data_sources.get(DATASOURCE)
    try:
        asset = source.get_asset(spec.name)
    except LookupError:
        asset = source.add_dataframe_asset(spec.name)
    try:
        batch = asset.get_batch_definition(BATCH)
    except KeyError:
        batch = asset.add_batch_definition_whole_dataframe(BATCH)
    suite = gx.ExpectationSuite(
        name=spec.name, expectations=[_expectation(spec, e) for e in spec.expectations]
    )
    suite = context.suites.add_or_update(suite)
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=spec.name, data=batch, suite=suite)
    )
    return context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=spec.name,
            validation_definitions=[definition],
            actions=[],  # Data Docs are built once per run, for all tables (_publish_docs)
            result_format=RESULT_FORMAT,
        )
    )


def _expectation(spec: SuiteSpec, e):
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    # Data Docs show the description instead of GE's sentence: keep the GE name and the
    # severity in it, so a page names exactly what the YAML and the summary name.
    shown = f"{e.description or e.label} — {e.label} [{e.severity}]"
    try:
        config = ExpectationConfiguration(
            type=e.type, kwargs=e.kwargs, severity=e.severity, description=shown,
            meta={"label": e.label},
        )  # fmt: skip
        return config.to_domain_obj()
    except Exception as exc:
        raise QualityConfigError(f"{spec.name}: {e.label}: {_one_line(exc)}") from exc


# ---- the GE project ---------------------------------------------------------------------
def _context(reports: Path):
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=str(reports))
    site = {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(reports / "data_docs"),
        },
        "site_index_builder": {
            "class_name": "DefaultSiteIndexBuilder",
            "validation_results_limit": INDEX_LIMIT,
        },
    }
    sites = context.list_data_docs_sites()
    if SITE not in sites:
        context.add_data_docs_site(SITE, site)
    elif sites[SITE] != site:  # e.g. the lake folder was moved or copied
        context.update_data_docs_site(SITE, site)
    if "local_site" in sites:  # GE's default: a second copy of every page
        context.delete_data_docs_site("local_site")
    if context.variables.progress_bars is None:
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.variables.save()
    if DATASOURCE not in context.data_sources.all():
        context.data_sources.add_spark(DATASOURCE)
    return context


def _publish_docs(context, reports: Path, results: list[TableResult], retention_h: float) -> None:
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    _prune(reports / "gx" / "uncommitted" / "validations", retention_h)
    done = [r for r in results if r.result_key is not None]
    ids = [r.result_key for r in done] + [ExpectationSuiteIdentifier(r.suite) for r in done]
    context.build_data_docs(site_names=[SITE], resource_identifiers=ids or None)
    for r in done:
        urls = context.get_docs_sites_urls(resource_identifier=r.result_key, site_names=[SITE])
        url = urls[0]["site_url"] if urls else None
        r.report_path = unquote(urlparse(url).path) if url else None


def _prune(validations: Path, retention_h: float) -> None:
    """Drop validation results older than the retention; the index build then drops their
    pages (it removes pages whose result is no longer in the store)."""
    if not validations.is_dir():
        return
    cutoff = time.time() - retention_h * 3600
    for path in validations.rglob("*.json"):
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
    for folder in sorted(validations.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


@contextmanager
def _exclusive(reports: Path) -> Iterator[None]:
    reports.mkdir(parents=True, exist_ok=True)
    with open(reports / ".quality.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
