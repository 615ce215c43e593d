"""Where every benchmark script puts its figures: one JSON file under bench/results/."""

from __future__ import annotations

import json
from pathlib import Path


def write_result(result: dict, out: str | Path) -> dict:
    """Write ``result`` as JSON to ``out`` (folders created) and print it."""
    text = json.dumps(result, indent=2)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    print(text)
    return result
