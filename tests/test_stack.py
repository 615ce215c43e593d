"""The local stack's supervisor config (``telemetra up``): what each program runs, and how."""

from __future__ import annotations

import configparser
import sys

from pipelines.ops import stack


def test_programs_run_this_python_and_the_quality_check_yields_the_cores(settings, tmp_path):
    settings = settings.model_copy(update={"run_dir": str(tmp_path / "run")})
    conf = configparser.ConfigParser(interpolation=None)
    conf.read(stack.write_config(settings))
    command = {
        section.removeprefix("program:"): conf[section]["command"]
        for section in conf.sections()
        if section.startswith("program:")
    }
    assert set(command) >= {"pipeline", "producer", "app", "api", "quality"}
    assert command["pipeline"] == f"{sys.executable} -m pipelines.ops.cli run all --mode stream"
    assert command["quality"].startswith(
        f"nice -n 10 {sys.executable} -m pipelines.ops.cli quality"
    )
    assert not any(command[name].startswith("nice") for name in ("pipeline", "app", "producer"))


def test_named_twitch_channels_replace_the_demo_producer(settings, tmp_path):
    settings = settings.model_copy(
        update={"run_dir": str(tmp_path / "run"), "twitch_channels": "chess_club, other"}
    )
    conf = configparser.ConfigParser(interpolation=None)
    conf.read(stack.write_config(settings))
    names = {s.removeprefix("program:") for s in conf.sections() if s.startswith("program:")}
    assert "producer" not in names and "twitch" in names
    assert conf["program:twitch"]["command"] == (
        f"{sys.executable} -m pipelines.ops.cli twitch --channels chess_club,other"
    )
