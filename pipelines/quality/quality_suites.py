"""The data-quality suites of ``conf/quality.yaml``, read into plain specs (no Spark, no GE).

The YAML holds, per layer, one list of expectations for each lake table (``tables:``) and
for each cross-table check computed by ``pipelines.quality.quality_checks`` (``checks:``). Every
entry is ``{type, kwargs, severity: critical|warning, description}``: ``type`` and
``kwargs`` are Great Expectations' own names, so an entry reads like the GE docs.

Values of the form ``${name}`` are filled in here from the configuration, so thresholds
live in ``conf/defaults.yaml`` (and the environment) rather than being copied into the
suites: every ``Settings`` field, plus ``topics``, ``tx_types``, ``stream_statuses``,
``moment_kinds``, ``quarantine_reasons``, ``currencies`` (the silver rate table) and
``columns:<SCHEMA>`` (the column names of a ``pipelines.core.schemas`` StructType). A whole
value ``"${name}"`` keeps the parameter's type (a list stays a list); inside a longer
string (a SQL query) it is formatted in.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from pipelines.config import CONF_DIR, EVENT_TYPES, PROJECT_ROOT, Settings
from pipelines.core import schemas
from pipelines.core.contract import MOMENT_KINDS

LAYERS = ("bronze", "silver", "gold")
SEVERITIES = ("critical", "warning")
CURRENCY_RATES_CSV = CONF_DIR / "currency_rates.csv"
# Kwargs that say what an expectation looks at, in the order a label names them.
_SUBJECT_KWARGS = ("column", "column_list", "column_A", "column_B")
_PARAM = re.compile(r"\$\{([A-Za-z0-9_:.]+)\}")


class QualityConfigError(ValueError):
    """``conf/quality.yaml`` is malformed; the message names the suite and the entry."""


@dataclass(frozen=True)
class ExpectationSpec:
    type: str
    kwargs: dict[str, Any]
    severity: str
    description: str | None = None

    @property
    def label(self) -> str:
        """``type(subject)``: what a report or an error names this expectation by."""
        subject = [
            ",".join(v) if isinstance(v, list) else str(v)
            for k in _SUBJECT_KWARGS
            if (v := self.kwargs.get(k)) is not None
        ]
        if not subject and self.description:
            subject = [self.description]
        return f"{self.type}({' vs '.join(subject)})"


@dataclass(frozen=True)
class SuiteSpec:
    layer: str
    table: str
    check: bool  # computed by pipelines.quality.quality_checks, not read from a Delta table
    expectations: tuple[ExpectationSpec, ...]

    @property
    def name(self) -> str:
        return f"{self.layer}.{self.table}"


def suites_path(settings: Settings) -> Path:
    path = Path(settings.quality_suites_file)
    return path if path.is_absolute() else PROJECT_ROOT / path


def load_suites(
    settings: Settings, layer: str = "all", path: Path | None = None
) -> list[SuiteSpec]:
    """Every suite of the YAML (or those of one layer), parameters filled in, in file order."""
    if layer != "all" and layer not in LAYERS:
        raise QualityConfigError(f"layer must be one of {', '.join(LAYERS)}, all; got {layer!r}")
    source = path or suites_path(settings)
    doc = yaml.safe_load(source.read_text()) or {}
    params = quality_params(settings, doc.get("params") or {})
    suites = []
    for section, check in (("tables", False), ("checks", True)):
        for lay, tables in (doc.get(section) or {}).items():
            if lay not in LAYERS:
                raise QualityConfigError(f"{source.name}: {section}.{lay}: unknown layer")
            for table, entries in (tables or {}).items():
                name = f"{lay}.{table}"
                specs = tuple(
                    _spec(entry, params, f"{name}[{i}]") for i, entry in enumerate(entries)
                )
                suites.append(SuiteSpec(lay, table, check, specs))
    order = {lay: i for i, lay in enumerate(LAYERS)}
    suites.sort(key=lambda s: order[s.layer])  # stable: file order within a layer
    return [s for s in suites if layer in ("all", s.layer)]


def _spec(entry: dict, params: dict[str, Any], where: str) -> ExpectationSpec:
    if not isinstance(entry, dict) or "type" not in entry:
        raise QualityConfigError(f"{where}: an entry needs at least `type` and `severity`")
    unknown = set(entry) - {"type", "kwargs", "severity", "description"}
    if unknown:
        raise QualityConfigError(f"{where}: unknown keys {sorted(unknown)}")
    severity = entry.get("severity")
    if severity not in SEVERITIES:
        raise QualityConfigError(f"{where}: severity must be critical or warning, got {severity!r}")
    kwargs = {k: _fill(v, params, where) for k, v in (entry.get("kwargs") or {}).items()}
    return ExpectationSpec(entry["type"], kwargs, severity, entry.get("description"))


def _fill(value: Any, params: dict[str, Any], where: str) -> Any:
    if isinstance(value, list):
        return [_fill(v, params, where) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, params, where) for k, v in value.items()}
    if not isinstance(value, str):
        return value
    whole = _PARAM.fullmatch(value)
    if whole:
        return _param(whole.group(1), params, where)
    return _PARAM.sub(lambda m: str(_param(m.group(1), params, where)), value)


def _param(name: str, params: dict[str, Any], where: str) -> Any:
    if name.startswith("columns:"):
        schema = getattr(schemas, name.removeprefix("columns:"), None)
        if isinstance(schema, pa.Schema):
            return list(schema.names)
    elif name in params:
        return params[name]
    raise QualityConfigError(f"{where}: unknown parameter ${{{name}}}")


def quality_params(settings: Settings, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The values ``${name}`` can refer to: the settings, derived lists, the YAML's params."""
    from pipelines.transforms.silver import REASONS  # the quarantine reasons silver writes

    params: dict[str, Any] = settings.model_dump()
    params.update(
        topics=settings.topics,
        event_types=list(EVENT_TYPES),
        tx_types=list(schemas.TX_TYPES),
        stream_statuses=list(schemas.STREAM_STATUSES),
        moment_kinds=list(MOMENT_KINDS),
        quarantine_reasons=list(REASONS),
        currencies=rate_table_currencies(),
    )
    params.update(extra or {})
    return params


def rate_table_currencies(path: Path = CURRENCY_RATES_CSV) -> list[str]:
    """The currencies silver can convert (``conf/currency_rates.csv``); others are unknown."""
    if not path.exists():
        return []
    lines = (line for line in path.read_text().splitlines() if not line.startswith("#"))
    return sorted({row["currency"].strip() for row in csv.DictReader(lines) if row.get("currency")})
