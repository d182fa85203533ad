"""What a person running the connector by hand sees: progress during a long run, and --help.

A run that takes a while is never silent: on a terminal a live line on stderr names the step, the
rows read and the rate; anywhere else a log line every few seconds while a step runs, in the
task's log file. ``--help`` says what each command does, that the parameters come as JSON on
stdin, and the defaults.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import time
from pathlib import Path
from typing import Any

import pytest

from hr_connector import cli, progress
from hr_connector.params import parse_params
from hr_connector.runner import run_plain
from hr_connector.steps import PLAIN_STEPS

from conftest import base_raw, place
from run_helpers import run_import


def slow_steps(seconds: float) -> Any:
    """The plain steps, with validation taking ``seconds`` (a large file's stand-in)."""

    def validate(*args: Any) -> Any:
        time.sleep(seconds)
        return PLAIN_STEPS.validate(*args)

    return dataclasses.replace(PLAIN_STEPS, validate=validate)


def test_a_long_step_logs_its_progress(
    workdir: Path, samples: Path, esm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "LOG_EVERY", 0.2)
    place(workdir, samples / "workperiod" / "workperiod.csv")
    params = parse_params(base_raw(webapi_url=esm.url))
    run_plain(params, workdir, "5", slow_steps(0.7))
    log_text = (workdir / "5_log.txt").read_text(encoding="utf-8")
    lines = [line for line in log_text.splitlines() if "Still running: validate-rows" in line]
    assert len(lines) >= 2, log_text
    assert "40 rows read" in lines[0] and "rows/s" in lines[0]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_a_live_line_shows_step_rows_and_rate(
    workdir: Path, samples: Path, esm: Any
) -> None:
    place(workdir, samples / "workperiod" / "workperiod.csv")
    params = parse_params(base_raw(webapi_url=esm.url))
    screen = Terminal()
    with progress.watching(slow_steps(0.8), screen) as steps:
        from hr_connector.sinks import make_sink
        from hr_connector.texts import Translations
        from hr_connector.workdir import WorkDir

        wd = WorkDir(workdir, "6", "workperiod")
        run_import(params, wd, make_sink(params, Translations.load()), steps)
    shown = screen.getvalue()
    assert "hr-connector: validate-rows" in shown
    assert "40 rows read" in shown and "rows/s" in shown


def help_text(*argv: str) -> str:
    """What ``hr-connector ... --help`` prints (into a buffer of the test's own: with ``capsys``
    the text went to pytest's global capture instead, now and then, after other tests)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
        cli.main([*argv, "--help"])
    assert done.value.code == 0
    return out.getvalue()


def test_help_says_what_each_command_does_how_parameters_come_and_the_defaults() -> None:
    top = help_text()
    assert "``" not in top and "The hr-connector command" not in top
    assert top.splitlines()[2].startswith("HR import connector for Identity Governance")
    for command in ("run", "demo", "esm-sandbox", "resend-report", "bundle"):
        assert f"\n    {command}" in top
    run = help_text("run")
    assert "one JSON object on standard input" in run
    assert "--params FILE" in run and "exit codes: 0 completed" in run
    assert "(default: auto)" in run
    demo = help_text("demo")
    assert "(default: demo-run)" in demo
