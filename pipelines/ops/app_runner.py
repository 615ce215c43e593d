"""Start the Streamlit app (`telemetra app`): streamlit run, bound to ``settings.app_host``.

The command and environment are public so tests can start the app exactly the same way.
"""

from __future__ import annotations

import os
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
        "--client.toolbarMode", "minimal",
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
    """Replace this process with the app's (so signals from a terminal or a supervisor
    reach Streamlit directly). Returns only if the exec fails: 1, with the reason."""
    command = app_command(settings, port)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(command[0], command, app_env(settings))
    except OSError as exc:
        print(f"cannot start streamlit: {exc}", file=sys.stderr)
    return 1
