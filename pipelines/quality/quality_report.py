"""What a quality run returns: per-expectation outcomes, per-table results, the run report.

Plain dataclasses (no GE objects kept), so a report can be printed, asserted on, turned
into ``gold/quality_runs`` rows or raised in a gate error after GE is done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SUMMARY_HEADER = ("table", "status", "passed", "critical", "warning", "rows", "report")


@dataclass(frozen=True)
class Outcome:
    """One expectation's result."""

    suite: str
    label: str  # type(subject), as in quality_suites.ExpectationSpec.label
    severity: str  # critical | warning
    success: bool
    observed: str | None = None

    @property
    def name(self) -> str:
        """``silver.chat_messages: expect_column_values_to_be_unique(event_id) [critical]``"""
        return f"{self.suite}: {self.label} [{self.severity}]"


def outcome_of(suite: str, result: Any) -> Outcome:
    """An ``ExpectationValidationResult`` -> ``Outcome`` (an exception counts as a failure)."""
    config = result.expectation_config
    label = (config.meta or {}).get("label") or config.type
    severity = getattr(config.severity, "value", config.severity) or "critical"
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return Outcome(suite, label, severity, False, f"error: {info.get('exception_message')}")
    return Outcome(suite, label, severity, bool(result.success), _observed(result.result or {}))


def _observed(result: dict) -> str | None:
    if result.get("unexpected_count"):
        sample = ", ".join(repr(v) for v in (result.get("partial_unexpected_list") or [])[:3])
        return f"{result['unexpected_count']} unexpected" + (f", e.g. {sample}" if sample else "")
    value = result.get("observed_value")
    return None if value is None else str(value)[:200]


@dataclass
class TableResult:
    """One suite's validation: a table, or a cross-table check."""

    layer: str
    table: str
    status: str  # "done" while running; then passed | warning | failed | missing | error
    outcomes: tuple[Outcome, ...] = ()
    row_count: int | None = None
    observed_value: float | None = None
    report_path: str | None = None
    duration_seconds: float = 0.0
    error: str | None = None
    result_key: Any = field(default=None, repr=False)  # GE's ValidationResultIdentifier

    def __post_init__(self) -> None:
        if self.status == "done":
            self.status = (
                "failed" if self.critical_failed else "warning" if self.warning_failed else "passed"
            )

    @property
    def suite(self) -> str:
        return f"{self.layer}.{self.table}"

    @property
    def critical_failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "critical"]

    @property
    def warning_failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.severity != "critical"]

    @property
    def success(self) -> bool | None:
        """No critical expectation failed (None: the table does not exist yet)."""
        if self.status == "missing":
            return None
        return self.status in ("passed", "warning")


@dataclass
class QualityReport:
    run_id: str
    run_time: datetime
    layer: str
    results: list[TableResult]
    report_path: str  # the Data Docs index

    @property
    def success(self) -> bool:
        return all(r.success is not False for r in self.results)

    @property
    def critical_failures(self) -> list[str]:
        """Names of the failed critical expectations (and of tables that could not be read)."""
        names = []
        for r in self.results:
            if r.status == "error":
                names.append(f"{r.suite}: could not be validated ({r.error})")
            names += [o.name for o in r.critical_failed]
        return names

    @property
    def warnings(self) -> list[str]:
        return [o.name for r in self.results for o in r.warning_failed]

    def result(self, suite: str) -> TableResult:
        return next(r for r in self.results if r.suite == suite)

    def summary_rows(self) -> list[tuple[str, ...]]:
        """One printable row per table, columns as ``SUMMARY_HEADER``."""
        return [
            (
                r.suite,
                r.status,
                f"{sum(o.success for o in r.outcomes)}/{len(r.outcomes)}",
                str(len(r.critical_failed)),
                str(len(r.warning_failed)),
                "" if r.row_count is None else str(r.row_count),
                r.report_path or "",
            )
            for r in self.results
        ]

    def __str__(self) -> str:
        rows = [SUMMARY_HEADER[:-1]] + [row[:-1] for row in self.summary_rows()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in rows]
        lines += [f"FAILED {name}" for name in self.critical_failures]
        lines += [f"warning {name}" for name in self.warnings]
        verdict = "passed" if self.success else "FAILED"
        lines.append(f"quality {self.layer}: {verdict}; report: {self.report_path}")
        return "\n".join(lines)

    def rows(self) -> list[tuple]:
        """``gold/quality_runs`` rows (schemas.QUALITY_RUNS order)."""
        out = []
        for r in self.results:
            failed = r.critical_failed + r.warning_failed
            out.append(
                (
                    self.run_id, self.run_time, r.layer, r.table, r.suite, r.status, r.success,
                    len(r.outcomes), len(r.outcomes) - len(failed), len(failed),
                    len(r.critical_failed), len(r.warning_failed),
                    [f"{o.label} [{o.severity}]" for o in failed] + ([r.error] if r.error else []),
                    r.row_count, r.observed_value, r.report_path, round(r.duration_seconds, 3),
                )
            )  # fmt: skip
        return out
