"""No change is ever lost, whatever moment the wrapper is killed at.

The platform is simulated as it behaves (PLATFORM.md §1): it imports ``<taskid>_output.json``
after, and only after, the script exits 0; an import is an upsert by ``objectGUID`` (importing
a row it already has changes nothing). Each case kills the real ``IGAConnector.py`` process once
(or twice in a row), then reruns the task until a run exits 0, and checks that the platform then
holds every valid row of the day-2 file with its day-2 values.

Kill points:

* every named moment of a run (:data:`freeze_points.POINTS`): the process freezes
  itself there (``HR_CONNECTOR_STOP_AT``) and is SIGKILLed frozen: exactly before and after the
  lock, the compare, the undelivered mark, the commit, the admin task kept and filed, the end of
  the run, the output path printed, and the exit;
* moments seen from outside: the mark appearing, the commit journal appearing, the output path
  read on stdout;
* delays spread over the whole run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hr_connector.delivery import is_marked
from hr_connector.outcome import Decision
from hr_connector.workdir import WorkDir

from conftest import base_raw
from freeze_points import POINTS, frozen_at
from run_helpers import engine_env, is_stopped, run_plain, start_engine, workperiod_file

ROWS = 3_000
TASK = "3"
#: the local ESM the runs file their admin tasks in (set by the ``story`` fixture)
ESM_URL = {"url": "http://127.0.0.1:9"}


def _params(**extra: Any) -> dict[str, Any]:
    extra.setdefault("webapi_url", ESM_URL["url"])
    extra.setdefault("taskid", int(TASK))
    extra.setdefault("update_limit", 10**6)
    return base_raw(run_type="partial", **extra)


def _start(workdir: Path, stop_at: str | None = None, **extra: Any) -> subprocess.Popen[bytes]:
    env = engine_env(**(frozen_at(stop_at) if stop_at else {}))
    debug = os.environ.get("SWEEP_DEBUG")
    stderr = subprocess.STDOUT if debug else subprocess.DEVNULL
    return start_engine(workdir, _params(**extra), env=env, stderr=stderr)


class Platform:
    """What the platform imported: row ID -> row, as upserts of each exit-0 run's output."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.imports = 0

    def import_output(self, workdir: Path, task: str = TASK) -> None:
        output = json.loads((workdir / f"{task}_output.json").read_text(encoding="utf-8"))
        for row in output:
            self.rows[row["objectGUID"]] = row
        self.imports += 1

    def after(self, proc: subprocess.Popen[bytes], workdir: Path, task: str = TASK) -> int:
        """Wait for the run; import its output when it exited 0 (the output path on stdout)."""
        out, _ = proc.communicate(timeout=60)
        if proc.returncode == 0:
            last = out.decode().strip().splitlines()[-1]
            assert last == str(workdir / f"{task}_output.json")
            self.import_output(workdir, task)
        return proc.returncode


def _kill_once(
    proc: subprocess.Popen[bytes],
    workdir: Path,
    platform: Platform,
    sign: Callable[[], object],
    every: float,
) -> int:
    """SIGKILL ``proc`` as soon as ``sign()`` holds (polled every ``every`` s, for at most 60 s),
    unless it ended first; then the platform's part."""
    deadline = time.monotonic() + 60
    while proc.poll() is None and not sign() and time.monotonic() < deadline:
        time.sleep(every)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    return platform.after(proc, workdir)


def _kill_at_point(workdir: Path, point: str, platform: Platform) -> int:
    proc = _start(workdir, stop_at=point)
    return _kill_once(proc, workdir, platform, lambda: is_stopped(proc.pid), 0.002)


def _kill_when(workdir: Path, platform: Platform, seen: str) -> int:
    """SIGKILL at the first sight of ``seen``: a file below the workdir, or ``stdout``."""
    proc = _start(workdir)
    if seen == "stdout":
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the path is printed (or the exit)
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=60)
        if proc.returncode == 0:
            platform.import_output(workdir)
        del line, rest
        return proc.returncode
    return _kill_once(proc, workdir, platform, lambda: next(workdir.glob(seen), None), 0.0005)


def _kill_after(workdir: Path, platform: Platform, delay: float) -> int:
    proc = _start(workdir)
    time.sleep(delay)
    return _kill_once(proc, workdir, platform, lambda: True, 0)


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory, esm: Any) -> dict[str, Any]:
    """Day 1 imported by the platform; the day-2 file in place; what day 2 must end as."""
    ESM_URL["url"] = esm.url
    root = tmp_path_factory.mktemp("sweep")
    seed = root / "seed"
    workperiod_file(seed / "in" / "wp.csv", day=1, rows=ROWS)
    day1 = run_plain(seed, data_type="workperiod", update_limit=10**6)
    assert day1.decision is Decision.COMPLETED
    day1_platform = Platform()
    day1_platform.import_output(seed)
    workperiod_file(seed / "in" / "wp.csv", day=2, rows=ROWS)
    full = root / "full"
    shutil.copytree(seed, full)
    ref = run_plain(full, data_type="workperiod", run_type="full")
    assert ref.decision is Decision.COMPLETED
    expected = json.loads((full / f"{TASK}_output.json").read_text(encoding="utf-8"))
    # one clean wrapper run: its length spreads the timed kills over the whole run
    clean = root / "clean"
    shutil.copytree(seed, clean)
    began = time.monotonic()
    platform = Platform()
    assert platform.after(_start(clean), clean) == 0
    duration = time.monotonic() - began
    changed = json.loads((clean / f"{TASK}_output.json").read_text(encoding="utf-8"))
    assert len(changed) > 300  # day 2 changes every 10th row and adds 500
    return {
        "root": root,
        "seed": seed,
        "day1": day1_platform.rows,
        "expected": {r["objectGUID"]: r for r in expected},
        "duration": duration,
    }


def _settle(story: dict[str, Any], workdir: Path, platform: Platform, label: Any = "") -> None:
    """Rerun until a run exits 0 (the platform's next schedule); then nothing may be missing."""
    code = platform.after(_start(workdir), workdir)
    assert code == 0, code
    missing = [
        row_id for row_id, row in story["expected"].items() if platform.rows.get(row_id) != row
    ]
    assert missing == [], f"{label}: {len(missing)} rows lost, e.g. {missing[:3]}"
    # the output of the last run is delivered: its mark is cleared
    assert not is_marked(WorkDir(workdir, TASK, "workperiod"))


def _fresh(story: dict[str, Any], name: str) -> tuple[Path, Platform]:
    workdir = story["root"] / name
    if workdir.exists():
        shutil.rmtree(workdir)
    shutil.copytree(story["seed"], workdir)
    platform = Platform()
    platform.rows = dict(story["day1"])
    return workdir, platform


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigkill_at_every_moment_of_a_run_loses_no_change(story: dict[str, Any]) -> None:
    outcomes: list[tuple[str, int]] = []
    for point in POINTS:
        workdir, platform = _fresh(story, f"point-{point}")
        outcomes.append((point, _kill_at_point(workdir, point, platform)))
        _settle(story, workdir, platform, outcomes[-1])
        shutil.rmtree(workdir)
    wd = WorkDir(story["root"], TASK, "workperiod")
    for seen in (
        str(wd.undelivered.relative_to(wd.root)),
        str(wd.journal.relative_to(wd.root)),
        str(wd.kept_archive.relative_to(wd.root)),
        "stdout",
    ):
        workdir, platform = _fresh(story, "seen")
        outcomes.append((seen, _kill_when(workdir, platform, seen)))
        _settle(story, workdir, platform, outcomes[-1])
        shutil.rmtree(workdir)
    duration = story["duration"]
    for k in range(14):  # up to 1.2 times a run: the timed kills reach its very end
        delay = duration * (k + 0.5) / 12
        workdir, platform = _fresh(story, "timed")
        outcomes.append((f"{delay:.2f} s", _kill_after(workdir, platform, delay)))
        _settle(story, workdir, platform, outcomes[-1])
        shutil.rmtree(workdir)
    print(outcomes)
    # every checkpoint was reached and killed there (the process never ran past it)
    assert all(code == -signal.SIGKILL for point, code in outcomes if point in POINTS)


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("first", "second"),
    [("committed", "committed"), ("output-printed", "marked"), ("before-exit", "before-exit")],
)
def test_two_kills_in_a_row_lose_no_change(story: dict[str, Any], first: str, second: str) -> None:
    workdir, platform = _fresh(story, f"twice-{first}-{second}")
    assert _kill_at_point(workdir, first, platform) == -signal.SIGKILL
    assert _kill_at_point(workdir, second, platform) == -signal.SIGKILL
    _settle(story, workdir, platform)


@pytest.mark.timeout(120)
def test_a_killed_runs_changes_reach_the_platform_through_the_next_task_of_its_data_type(
    story: dict[str, Any],
) -> None:
    """Task 3 is killed while filing its admin task (committed, never handed over); the next
    run of the data type is task 4's, in the same working directory: its output holds task 3's
    changes (the base is the last state handed to the platform, whichever task ran), and the
    runs after it, of either task, keep working."""
    workdir, platform = _fresh(story, "other-task")
    assert _kill_at_point(workdir, "admin-task-kept", platform) == -signal.SIGKILL
    assert platform.after(_start(workdir, taskid=4), workdir, task="4") == 0
    missing = [i for i, row in story["expected"].items() if platform.rows.get(i) != row]
    assert missing == [], f"{len(missing)} rows lost, e.g. {missing[:3]}"
    assert not is_marked(WorkDir(workdir, "4", "workperiod"))
    assert platform.after(_start(workdir), workdir) == 0  # task 3 again: nothing left to do
    assert json.loads((workdir / f"{TASK}_output.json").read_text(encoding="utf-8")) == []
    assert platform.after(_start(workdir, taskid=4), workdir, task="4") == 0


@pytest.mark.timeout(120)
def test_unusable_parameters_never_touch_the_files_of_a_run_in_flight(
    story: dict[str, Any],
) -> None:
    """Point 3: task 3 has committed and is frozen while filing; a run of task 3 with unusable
    parameters must not delete its output (it takes the run locks first, or touches nothing)."""
    workdir, platform = _fresh(story, "in-flight")
    frozen = _start(workdir, stop_at="admin-task-kept")
    deadline = time.monotonic() + 60
    while not is_stopped(frozen.pid) and time.monotonic() < deadline:
        assert frozen.poll() is None
        time.sleep(0.002)
    output = workdir / f"{TASK}_output.json"
    committed = output.read_bytes()
    kept_task = (workdir / f"{TASK}_admin_task.json").read_bytes()
    for bad in ({"update_limit": "lots"}, {"language": "xx"}, {"data_type": "nonsense"}):
        proc = _start(workdir, **bad)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 1, (bad, out)
        assert output.exists(), (bad, out)
        assert output.read_bytes() == committed, bad
        assert (workdir / f"{TASK}_admin_task.json").read_bytes() == kept_task, bad
    frozen.send_signal(signal.SIGCONT)
    assert platform.after(frozen, workdir) == 0
    assert output.read_bytes() == committed
    _settle(story, workdir, platform)


def test_a_lost_base_outputs_every_row_again(story: dict[str, Any]) -> None:
    """The base of an undelivered run is gone (an older version deleted it): the rerun outputs
    every valid row instead of failing for ever."""
    workdir, platform = _fresh(story, "lost-base")
    assert _kill_at_point(workdir, "committed", platform) == -signal.SIGKILL
    for kept in (workdir / "data" / "archive").glob(".*.prev"):
        kept.unlink()
    _settle(story, workdir, platform)
    assert len(json.loads((workdir / f"{TASK}_output.json").read_text())) == len(story["expected"])
