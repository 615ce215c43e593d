"""Telemetra dashboard: `streamlit run streamlit_app/app.py`, or `telemetra app`.

The entry point: reads the settings once, keeps the viewer's time zone, hands both to the
pages (``views/``) through ``ui.context``. Pages query the gold layer only through
``pipelines.serving.queries``.
"""

from __future__ import annotations

import streamlit as st
from ui.context import TIMEZONES, PageContext, set_page_context

from pipelines.config import ConfigError, load_settings

st.set_page_config(page_title="Telemetra", page_icon=":material/monitoring:", layout="wide")

try:
    settings = load_settings()
except ConfigError as exc:
    st.error(f"Configuration error: {exc}")
    st.stop()

pages = st.navigation(
    [
        st.Page("views/live.py", title="Live", icon=":material/sensors:", default=True),
        st.Page("views/broadcasts.py", title="Broadcasts", icon=":material/video_library:"),
        st.Page("views/moments.py", title="Moments", icon=":material/bolt:"),
        st.Page("views/quality.py", title="Data quality", icon=":material/fact_check:"),
    ]
)
with st.sidebar:
    tz = st.selectbox("Time zone", TIMEZONES, key="tz", help="Times are stored in UTC.")
    st.caption(f"Lake: `{settings.lake_root}`")
set_page_context(
    PageContext(
        lake_root=settings.lake_root,
        tz=tz,
        refresh_seconds=settings.app_refresh_seconds,
        currency=settings.base_currency,
        panes=(settings.window_seconds, settings.slide_seconds),
        storage=tuple(sorted((settings.storage_options or {}).items())),
    )
)
pages.run()
