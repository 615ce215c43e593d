"""Debian's chromium, driven by Playwright through its executable path (never a browser
Playwright downloads): the browser test and the start-up benchmark open the app with it.

Playwright is a dev dependency (``pip install -e .[dev]``); chromium comes from
``make browser`` (``apt-get install chromium``).
"""

from __future__ import annotations

from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch_chromium(playwright):
    """A headless chromium browser from a started ``sync_playwright()``."""
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(f"{CHROMIUM} missing: make browser (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
