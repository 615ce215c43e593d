"""Where every benchmark script puts its figures: one JSON file under bench/results/."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import psutil


def machine() -> dict:
    """What a result was measured on."""
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30),
        "python": platform.python_version(),
    }


def write_result(result: dict, out: str | Path) -> dict:
    """Write ``result`` as JSON to ``out`` (folders created) and print it."""
    text = json.dumps(result, indent=2)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    print(text)
    return result
