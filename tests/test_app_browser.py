"""End to end in a real browser: the app served on localhost over (a copy of) the fixture
lake, the Live page loaded in Debian's chromium (driven by Playwright, never a downloaded
browser); then a new window lands in the gold table and the page must show it by itself.
A second test opens the page on a lake with no gold yet, as right after `telemetra up`, and
the first stream must appear without a reload.

Leaves a screenshot in ``test-artifacts/live.png`` and the server log next to it.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import urllib.request
from datetime import timedelta
from decimal import Decimal

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from gold_fixture import ALPHA_T0, gold_lake  # noqa: F401 (fixture)

from pipelines.config import PROJECT_ROOT, load_settings
from pipelines.core import schemas
from pipelines.ops.app_runner import app_command, app_env
from pipelines.ops.headless import launch_chromium

pytestmark = pytest.mark.browser

ARTIFACTS = PROJECT_ROOT / "test-artifacts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"streamlit did not answer on {url} within {timeout} s")


@pytest.fixture
def lake(gold_lake, tmp_path) -> str:  # noqa: F811
    """A copy of the fixture lake this test may append to."""
    return str(shutil.copytree(gold_lake, tmp_path / "lake"))


@contextlib.contextmanager
def serve_app(lake: str, log_name: str):
    """``streamlit run`` bound to 127.0.0.1 on a free port, as ``telemetra app`` starts it,
    refreshing every 2 s; yields its URL."""
    settings = load_settings(lake_root=lake, app_host="127.0.0.1", app_refresh_seconds=2)
    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / log_name, "wb") as log:
        proc = subprocess.Popen(
            app_command(settings, port), env=app_env(settings), stdout=log, stderr=log
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(url, proc)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def app_url(lake):
    with serve_app(lake, "streamlit.log") as url:
        yield url


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = launch_chromium(pw)
        try:
            yield chromium
        finally:
            chromium.close()


def append_alpha_window(lake: str, last_viewers: int) -> None:
    """One more alpha window, 10 s after the fixture's newest, as the gold job would add."""
    start = ALPHA_T0 + timedelta(seconds=80)
    row = {
        "stream_id": "alpha", "window_start": start, "window_end": start + timedelta(seconds=60),
        "avg_viewers": 320.0, "max_viewers": 340, "last_viewers": last_viewers,
        "chat_count": 40, "unique_chatters": 30, "sentiment_mean": 0.2, "positive_count": 20,
        "negative_count": 5, "top_emotes": [{"emote": "Kappa", "count": 3}], "tx_count": 0,
        "revenue": Decimal("0.00"),
    }  # fmt: skip
    table = pa.Table.from_pylist([row], schema=schemas.STREAM_MINUTE_METRICS)
    write_deltalake(f"{lake}/gold/stream_minute_metrics", table, mode="append")


def test_live_page_in_chromium_shows_viewers_and_charts(app_url, lake, browser):
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.goto(app_url, wait_until="domcontentloaded")
    page.get_by_role("heading", name="Live").wait_for(timeout=60_000)
    viewers = page.locator('[data-testid="stMetric"]').filter(has_text="Viewers")
    viewers.first.wait_for(timeout=60_000)
    value = viewers.first.locator('[data-testid="stMetricValue"]').inner_text()
    assert value.strip() == "300"  # alpha's newest window (tests/gold_fixture.py)
    charts = page.locator(".vega-embed canvas, .vega-embed svg")
    charts.first.wait_for(timeout=60_000)
    page.wait_for_function(
        "document.querySelectorAll('.vega-embed canvas, .vega-embed svg').length >= 5",
        timeout=60_000,
    )
    assert page.get_by_text("Alpha plays Celeste").first.is_visible()
    assert not page.locator('[data-testid="stException"]').count()
    # Streamlit scrolls inside its own container: a tall window shows the whole page.
    page.set_viewport_size({"width": 1440, "height": 2600})
    page.wait_for_timeout(1500)  # let the charts finish drawing before the picture
    page.screenshot(path=str(ARTIFACTS / "live.png"))

    # The page refreshes itself (st.fragment every 2 s here), without a reload.
    page.evaluate("window.__same_document = true")
    append_alpha_window(lake, last_viewers=333)
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="stMetricValue"]')]
                 .some(e => e.innerText.trim() === '333')""",
        timeout=30_000,
    )
    assert page.evaluate("window.__same_document === true")


def test_live_page_opened_on_an_empty_lake_shows_the_first_stream_by_itself(
    gold_lake,  # noqa: F811
    tmp_path,
    browser,
):
    """As after `telemetra up`: the page is open before the pipeline wrote any gold."""
    lake = tmp_path / "lake"
    with serve_app(str(lake), "streamlit-empty.log") as url:
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_text("No data yet").first.wait_for(timeout=60_000)  # no gold table yet
        page.evaluate("window.__same_document = true")
        shutil.copytree(gold_lake, lake)  # the pipeline's first gold rows land
        viewers = page.locator('[data-testid="stMetric"]').filter(has_text="Viewers")
        viewers.first.wait_for(timeout=30_000)
        value = viewers.first.locator('[data-testid="stMetricValue"]').inner_text()
        assert value.strip() == "300"  # alpha's newest window (tests/gold_fixture.py)
        assert page.evaluate("window.__same_document === true")  # no reload
