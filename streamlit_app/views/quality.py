"""Data quality: the latest validation of each table, failures over time, the quarantine,
and the Great Expectations report pages (``telemetra quality`` writes them all)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st
from ui import charts
from ui.context import PageContext, page_context

from pipelines.serving import queries

PERIODS = {"Last hour": timedelta(hours=1), "Last 24 h": timedelta(days=1),
           "Last 7 days": timedelta(days=7), "All runs": None}  # fmt: skip
STATUS_ICONS = {"passed": "✅ passed", "warning": "⚠️ warning", "failed": "❌ failed",
                "error": "❌ error", "missing": "… missing"}  # fmt: skip


@st.cache_data(ttl=600, max_entries=64, show_spinner=False)
def _query(
    name: str, lake_root: str, storage: tuple, bucket: int, since: datetime | None = None
) -> pd.DataFrame:
    """``pipelines.serving.queries.<name>``, cached for one refresh interval (``bucket``)."""
    fn, options = getattr(queries, name), dict(storage) or None
    if name == "quality_latest":
        return fn(lake_root, storage_options=options)
    return fn(lake_root, since, storage_options=options)


def _data(ctx: PageContext, name: str, since: datetime | None = None) -> pd.DataFrame:
    bucket = int(datetime.now(timezone.utc).timestamp() // ctx.refresh_seconds)
    return _query(name, ctx.lake_root, ctx.storage, bucket, since)


def overview(latest: pd.DataFrame, ctx: PageContext) -> None:
    newest = latest["run_time"].max()
    failing = latest["status"].isin(["failed", "error"])
    cols = st.columns(4)
    cols[0].metric("Last run", charts.localized(latest, ["run_time"], ctx.tz)["run_time"].max()
                   .strftime("%Y-%m-%d %H:%M"))  # fmt: skip
    cols[1].metric("Tables passing", f"{int((~failing).sum())} / {len(latest)}")
    cols[2].metric("Critical failures", int(latest["critical_failed"].fillna(0).sum()))
    cols[3].metric("Warnings", int(latest["warning_failed"].fillna(0).sum()))
    age = (datetime.now(timezone.utc) - newest.to_pydatetime()).total_seconds()
    st.caption(f"Newest validation {int(age // 60)} min ago; each row is a table's latest run.")


def latest_table(latest: pd.DataFrame, ctx: PageContext) -> None:
    shown = charts.localized(latest, ["run_time"], ctx.tz)
    shown["status"] = shown["status"].map(STATUS_ICONS).fillna(shown["status"])
    shown["passed"] = (
        shown["passed"].astype("Int64").astype(str)
        + " / "
        + shown["expectations"].astype("Int64").astype(str)
    )
    shown["failed_expectations"] = shown["failed_expectations"].map(
        lambda v: "; ".join(v) if isinstance(v, list) else ""
    )
    shown["report"] = shown["report_path"].map(lambda p: Path(p).as_uri() if p else None)
    st.dataframe(
        shown,
        column_order=["suite", "status", "passed", "critical_failed", "warning_failed",
                      "failed_expectations", "row_count", "run_time", "report"],
        column_config={
            "suite": "Table", "status": "Status", "passed": "Passed",
            "critical_failed": st.column_config.NumberColumn("Critical"),
            "warning_failed": st.column_config.NumberColumn("Warnings"),
            "failed_expectations": "Failed expectations",
            "row_count": st.column_config.NumberColumn("Rows", format="localized"),
            "run_time": st.column_config.DatetimeColumn("Validated", format="YYYY-MM-DD HH:mm"),
            "report": st.column_config.LinkColumn("Report", display_text="open"),
        },
        hide_index=True,
        key="q_latest",
    )  # fmt: skip


def failure_trend(ctx: PageContext, since: datetime | None) -> None:
    trend = _data(ctx, "quality_trend", since)
    if trend.empty:
        st.caption("No runs in this period.")
        return
    long = trend.melt(id_vars=["run_time"], value_vars=["critical_failed", "warning_failed"],
                      var_name="severity", value_name="failed")  # fmt: skip
    long["severity"] = long["severity"].map({"critical_failed": "critical",
                                             "warning_failed": "warning"})  # fmt: skip
    long["run_time"] = charts.local_naive(long["run_time"], ctx.tz)
    chart = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("run_time:T", title=f"Run ({ctx.tz})"),
            y=alt.Y("failed:Q", title="Failed expectations", stack=True),
            color=alt.Color(
                "severity:N",
                scale=alt.Scale(domain=["critical", "warning"], range=["#d62728", "#ff9f1c"]),
            ),  # fmt: skip
            tooltip=["run_time:T", "severity:N", "failed:Q"],
        )
        .properties(height=220)
    )
    st.altair_chart(chart, width="stretch")


def quarantine(ctx: PageContext, since: datetime | None) -> None:
    rate = _data(ctx, "quarantine_rate_trend", since)
    left, right = st.columns([3, 2])
    with left:
        st.markdown("**Quarantine rate** (share of bronze rows silver rejected)")
        if rate.dropna(subset=["quarantine_rate"]).empty:
            st.caption("Not measured yet.")
        else:
            rate["run_time"] = charts.local_naive(rate["run_time"], ctx.tz)
            chart = (
                alt.Chart(rate.dropna(subset=["quarantine_rate"]))
                .mark_line(point=True)
                .encode(
                    x=alt.X("run_time:T", title=f"Run ({ctx.tz})"),
                    y=alt.Y("quarantine_rate:Q", title="Rate", axis=alt.Axis(format="%")),
                    color=alt.Color("status:N", title="Check"),
                    tooltip=["run_time:T", alt.Tooltip("quarantine_rate:Q", format=".2%")],
                )
                .properties(height=200)
            )
            st.altair_chart(chart, width="stretch")
    with right:
        st.markdown("**Why records were quarantined**")
        reasons = _data(ctx, "quarantine_reasons", since)
        if reasons.empty:
            st.caption("Nothing quarantined in this period.")
        else:
            st.dataframe(
                charts.localized(reasons, ["last_seen"], ctx.tz),
                column_config={
                    "reason": "Reason", "event_type": "Event type",
                    "records": st.column_config.NumberColumn("Records", format="localized"),
                    "last_seen": st.column_config.DatetimeColumn("Last", format="MM-DD HH:mm"),
                },
                hide_index=True,
                key="q_reasons",
            )  # fmt: skip


def report_viewer(latest: pd.DataFrame) -> None:
    """A table's report page: what failed, the file, a download.

    Not embedded: the page shows unexpected values (chat text, ids) that GE's templates do
    not escape, and an embedded page would run in the app's origin."""
    pages = latest.dropna(subset=["report_path"])
    pages = pages[pages["report_path"].map(lambda p: Path(p).is_file())]
    if pages.empty:
        st.caption("No report pages on disk (they are pruned after the retention period).")
        return
    failing_first = pages.sort_values("status", key=lambda s: ~s.isin(["failed", "warning"]))
    suite = st.selectbox("Table", failing_first["suite"].tolist(), key="q_report")
    row = failing_first.set_index("suite").loc[suite]
    path = Path(row["report_path"])
    failed = row["failed_expectations"] if isinstance(row["failed_expectations"], list) else []
    for name in failed:
        st.markdown(f"- ❌ `{name}`")
    if not failed:
        st.markdown("Every expectation passed.")
    st.download_button(
        "Download the report (HTML)",
        path.read_bytes(),
        file_name=f"{suite}.html",
        mime="text/html",
        key="q_download",
    )
    # GE writes pages under <site>/validations/...; the site's index lists every report.
    index = next((p.parent / "index.html" for p in path.parents if p.name == "validations"), None)
    listed = f"; every report is listed in `{index}`" if index else ""
    st.caption(f"Report: [{path.name}]({path.as_uri()}) at `{path}`{listed}.")


ctx = page_context()
st.title("Data quality")
st.caption("Great Expectations checks on the bronze, silver and gold tables.")
latest = _data(ctx, "quality_latest")
if latest.empty:
    st.info(
        "No validation results to show yet. This page will list the latest runs of "
        "`telemetra quality` — each suite with its pass rate, the failed expectations and a "
        f"link to the full report — once they are recorded in `{ctx.lake_root}/gold/quality_runs`.",
        icon=":material/fact_check:",
    )
    st.markdown(
        "Until then, run `telemetra quality --layer all` and open the HTML reports it writes."
    )
    st.stop()

overview(latest, ctx)
latest_table(latest, ctx)
period = st.segmented_control("Period", list(PERIODS), default="Last 24 h", key="q_period")
# Whole minutes, so the cached queries see the same ``since`` across reruns.
now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
since = now - PERIODS[period] if PERIODS.get(period) else None
st.subheader("Failed expectations per run")
failure_trend(ctx, since)
st.subheader("Quarantine")
quarantine(ctx, since)
st.subheader("Report")
report_viewer(latest)
