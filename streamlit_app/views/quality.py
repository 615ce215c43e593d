"""Data quality: the latest validation results (a placeholder until they exist)."""

from __future__ import annotations

import streamlit as st
from ui.context import page_context

ctx = page_context()
st.title("Data quality")
st.caption("Great Expectations checks on the bronze, silver and gold tables.")
st.info(
    "No validation results to show yet. This page will list the latest runs of "
    "`telemetra quality` — each suite with its pass rate, the failed expectations and a link "
    f"to the full report — once they are recorded in `{ctx.lake_root}/gold/quality_runs`.",
    icon=":material/fact_check:",
)
st.markdown("Until then, run `telemetra quality --layer all` and open the HTML reports it writes.")
