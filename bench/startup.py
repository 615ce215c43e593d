"""Start-up as a newcomer sees it: from ``telemetra up`` on a fresh lake to the first gold
rows, and to the dashboard showing them.

Each run gets a run folder, lake and ports of its own and calls the real ``telemetra up``
(broker, pipeline, producer with its one demo channel at 10 events/s, app, quality
checker, all under the supervisor). The clock starts when ``up`` is called:

- ``up_returned_s``: ``up`` returned, every program started;
- ``first_gold_s``: gold ``stream_minute_metrics`` first holds rows (its Delta log, read
  with deltalake every 0.5 s);
- ``dashboard_s``: the Live page, opened in chromium as soon as ``up`` returned and never
  reloaded, first shows the viewer count and a chart.

Then, for ``--hold-seconds``: how old the newest event the Live page shows is (freshness:
now minus the time in its "newest event …" line, read from the open page every second),
and when gold's minute metrics were committed (how often the settled tables move).
``telemetra down`` ends the run. Each run starts once the 1-minute load
average is below 1 (waiting at most 3 minutes); the JSON records it.

    .venv/bin/python bench/startup.py [--runs 3] [--hold-seconds 120]

Writes JSON to ``--out`` (default bench/results/startup.json) and prints it; the last
run's Live page is saved as ``test-artifacts/startup-live.png``.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from deltalake import DeltaTable
from ingest import percentile, table_rows
from results_io import write_result

from pipelines.config import PROJECT_ROOT
from pipelines.ops.headless import launch_chromium

TELEMETRA = str(Path(sys.executable).with_name("telemetra"))
POLL_S = 0.5
TARGET_S = 60
VIEWERS = '[data-testid="stMetric"]:has-text("Viewers") [data-testid="stMetricValue"]'
CHARTS = ".vega-embed canvas, .vega-embed svg"
NEWEST = re.compile(r"newest event (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC")


def run_env(work: Path, args: argparse.Namespace) -> dict[str, str]:
    return {
        **os.environ,
        "TELEMETRA_LAKE_ROOT": str(work / "lake"),
        "TELEMETRA_RUN_DIR": str(work / "run"),
        "TELEMETRA_KAFKA_PORT": str(args.kafka_port),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{args.kafka_port}",
        "TELEMETRA_APP_PORT": str(args.app_port),
    }


def commit_times(lake: Path) -> list[float]:
    """Epoch seconds of every write to gold ``stream_minute_metrics`` (not its creation,
    nor auto compaction)."""
    history = DeltaTable(str(lake / "gold" / "stream_minute_metrics")).history()
    return sorted(h["timestamp"] / 1000 for h in history if h["operation"] == "WRITE")


def shown_event_age(page) -> float | None:
    """Now minus the newest event time the page shows (its freshness line, in UTC)."""
    text = page.locator("text=newest event").first
    if text.count() == 0:
        return None
    found = NEWEST.search(text.inner_text())
    if found is None:
        return None
    shown = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    # The page shows whole seconds: the event is up to 1 s younger than shown.
    return (datetime.now(timezone.utc) - shown).total_seconds() - 0.5


def shows_live_data(page) -> bool:
    return page.locator(VIEWERS).count() > 0 and page.locator(CHARTS).count() > 0


def one_run(args: argparse.Namespace, screenshot: Path | None) -> dict:
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="telemetra-startup-"))
    env, lake = run_env(work, args), work / "lake"
    load_before = [round(x, 2) for x in os.getloadavg()]
    wall0, t0 = time.time(), time.monotonic()
    marks: dict[str, float] = {}
    try:
        subprocess.run([TELEMETRA, "up"], env=env, check=True, capture_output=True, text=True)
        marks["up_returned_s"] = time.monotonic() - t0
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(f"http://127.0.0.1:{args.app_port}", wait_until="domcontentloaded")
            while "dashboard_s" not in marks:
                if time.monotonic() - t0 > args.timeout:
                    raise TimeoutError(f"no live data on the dashboard within {args.timeout} s")
                minutes = str(lake / "gold" / "stream_minute_metrics")
                if "first_gold_s" not in marks and table_rows(minutes) > 0:
                    marks["first_gold_s"] = time.monotonic() - t0
                if shows_live_data(page):
                    marks["dashboard_s"] = time.monotonic() - t0
                time.sleep(POLL_S)
            marks.setdefault("first_gold_s", marks["dashboard_s"])
            first_viewers = page.locator(VIEWERS).first.inner_text().strip()
            ages, held = [], time.monotonic()
            while time.monotonic() - held < args.hold_seconds:
                age = shown_event_age(page)
                if age is not None:
                    ages.append(age)
                time.sleep(1)
            if not shows_live_data(page):
                page.screenshot(path=str(work.parent / "telemetra-startup-lost.png"))
                raise RuntimeError(
                    "the Live page lost its viewer count or charts while held; its picture: "
                    f"{work.parent / 'telemetra-startup-lost.png'}"
                )
            last_viewers = page.locator(VIEWERS).first.inner_text().strip()
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.set_viewport_size({"width": 1440, "height": 2600})
                page.wait_for_timeout(1500)
                page.screenshot(path=str(screenshot))
            browser.close()
        commits = [t - wall0 for t in commit_times(lake)]
    finally:
        subprocess.run([TELEMETRA, "down"], env=env, capture_output=True, check=False)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    gaps = [b - a for a, b in zip(commits, commits[1:], strict=False)]
    return {
        **{k: round(v, 1) for k, v in marks.items()},
        "load_average_before": load_before,
        "viewers_shown": [first_viewers, last_viewers],
        "gold_commits_s": [round(c, 1) for c in commits],
        "gold_commit_interval_s": {"p50": percentile(gaps, 0.5), "max": percentile(gaps, 1.0)},
        "freshness_s": {
            "p50": percentile(ages, 0.5),
            "p95": percentile(ages, 0.95),
            "samples": len(ages),
        },  # fmt: skip
    }


def settle(most_s: float = 180) -> None:
    """Wait until the 1-minute load average is below 1 (at most ``most_s``), so a run does
    not start among the previous run's last processes."""
    deadline = time.monotonic() + most_s
    while os.getloadavg()[0] >= 1.0 and time.monotonic() < deadline:
        time.sleep(5)


def main(args: argparse.Namespace) -> dict:
    runs = []
    for i in range(args.runs):
        settle()
        last = i == args.runs - 1
        shot = PROJECT_ROOT / "test-artifacts" / "startup-live.png" if last else None
        runs.append(one_run(args, shot))
        print(runs[-1], flush=True)
    median = {
        key: round(statistics.median(r[key] for r in runs), 1)
        for key in ("up_returned_s", "first_gold_s", "dashboard_s")
    }
    result = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "hold_seconds": args.hold_seconds,
        "runs": runs,
        "median": median,
        "target_s": TARGET_S,
        "target_met": median["dashboard_s"] <= TARGET_S,
    }
    return write_result(result, args.out)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hold-seconds", type=int, default=120)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--kafka-port", type=int, default=19192)
    parser.add_argument("--app-port", type=int, default=18511)
    parser.add_argument("--keep", action="store_true", help="keep each run's folder and lake")
    parser.add_argument("--out", default=str(PROJECT_ROOT / "bench/results/startup.json"))
    return parser.parse_args()


if __name__ == "__main__":
    main(_args())
