"""Start the Streamlit app (`telemetra app`): streamlit run, bound to ``settings.app_host``."""

from __future__ import annotations

import os
import subprocess
import sys

from pipelines.config import PROJECT_ROOT, Settings

APP_SCRIPT = PROJECT_ROOT / "streamlit_app" / "app.py"


def app_command(settings: Settings, port: int | None = None) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(APP_SCRIPT),
        "--server.address", settings.app_host,
        "--server.port", str(port or settings.app_port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip


def app_env(settings: Settings) -> dict[str, str]:
    """The environment for the app process: the settings the app reads, as given here
    (the caller may have overridden them on its command line)."""
    return {
        **os.environ,
        "TELEMETRA_LAKE_ROOT": settings.lake_root,
        "TELEMETRA_APP_REFRESH_SECONDS": str(settings.app_refresh_seconds),
        "TELEMETRA_BASE_CURRENCY": settings.base_currency,
    }


def run_app(settings: Settings, port: int | None = None) -> int:
    """Run the app in the foreground until it stops; its exit code (0 on Ctrl-C)."""
    try:
        return subprocess.call(app_command(settings, port), env=app_env(settings))
    except KeyboardInterrupt:
        return 0
