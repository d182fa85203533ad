"""Fault injection: killed runs, a full disk, an ESM that fails; nothing lost.

What "importable stale output" means here. The platform imports ``<taskid>_output.json`` only
after the script exits 0 (PLATFORM.md §1). A run killed *before* its commit leaves the previous
completed run's output and archives: that output was already handed to the platform, it agrees
with the archives, and the next run overwrites or removes it, so it is stale but harmless. A run
killed *after* its commit leaves the new output and the new archives: consistent on disk, but the
platform never imported that output (no exit 0), and the next partial run compares with the new
archive and finds nothing to import. The connector therefore marks a committed output
"undelivered" until the run's last step and compares a rerun against the archive before it
(:mod:`hr_connector.delivery`); :func:`test_rerun_after_a_kill_delivers_the_changes` pins it.

The SFTP server dropping the connection mid-download is covered against a real sshd in
``tests/test_sftp.py::test_dropped_connection_leaves_nothing_and_the_retry_succeeds`` (nothing is
left in the local folder, the retry succeeds) and is not repeated here.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import hr_connector.publish as publish_mod
import hr_connector.workdir as workdir_mod
from hr_connector import cli, pipeline
from hr_connector.door import Door, staged_name
from hr_connector.outcome import Decision
from hr_connector.params import parse_params
from hr_connector.pipeline import PLAIN_STEPS
from hr_connector.runner import run_plain as run_with_report
from hr_connector.sinks import LocalOnlySink
from hr_connector.workdir import WorkDir, recover

from conftest import ESM_USER, SAMPLES, WEBAPI_PASSWORD, base_raw, place
from run_helpers import (
    Snapshot,
    engine_env,
    epe,
    leftovers,
    run_import,
    run_plain,
    seed_full_run,
    start_engine,
    workperiod_file,
)

HR_CONNECTOR = Path(sys.executable).parent / "hr-connector"


class Killed(BaseException):
    """Stands for SIGKILL in-process: not an Exception, so no handler of the connector sees it."""


# --------------------------------------------------------------------------------------------
# Kill at each step boundary (in-process, deterministic)
# --------------------------------------------------------------------------------------------


def _die(*args: Any, **kwargs: Any) -> Any:
    raise Killed("file_report")


def _die_after(step: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        step(*args, **kwargs)
        raise Killed(step.__name__)

    return wrapper


@contextlib.contextmanager
def _one_shot(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, when: Callable[..., bool]):
    """Patch ``owner.name`` so that its first call for which ``when(*args)`` holds dies."""
    real = getattr(owner, name)
    fired = False

    def fake(*args: Any, **kwargs: Any) -> Any:
        nonlocal fired
        if not fired and when(*args):
            fired = True
            raise Killed(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, fake)
    yield
    monkeypatch.setattr(owner, name, real)


def _final_renames(wd: WorkDir, after: int) -> Callable[..., bool]:
    """True for the rename (tmp -> output/archive) that comes after ``after`` such renames
    (the door renames by name, relative to the folder's descriptor)."""
    finals = {wd.output.name, wd.archive.name, wd.error_archive.name}
    seen = [0]

    def when(src: Any, dst: Any, *rest: Any) -> bool:
        if Path(dst).name not in finals:
            return False
        seen[0] += 1
        return seen[0] > after

    return when


#: boundary -> the complete set the files must show after ``recover`` ("old" or "new")
BOUNDARIES: dict[str, str] = {
    "after-fetch": "old",
    "after-parse": "old",
    "after-validate": "old",
    "after-compare": "old",
    "after-guard": "old",
    "files-staged-no-journal": "old",  # all three temp files written and fsynced
    "journal-written-no-rename": "new",
    "after-1-rename": "new",
    "after-2-renames": "new",
    "renamed-journal-left": "new",
    "after-publish": "new",
    "after-keep-report": "new",
    "during-file-report": "new",
}


def _kill_at(
    boundary: str, wd: WorkDir, monkeypatch: pytest.MonkeyPatch
) -> contextlib.AbstractContextManager[Any]:
    steps = {
        "after-fetch": "fetch",
        "after-parse": "parse",
        "after-validate": "validate",
        "after-compare": "compare",
        "after-guard": "guard",
        "after-publish": "publish",
        "after-keep-report": "keep_report",
    }
    if boundary in steps:
        field = steps[boundary]
        killer = replace(PLAIN_STEPS, **{field: _die_after(getattr(PLAIN_STEPS, field))})
        monkeypatch.setattr(pipeline, "PLAIN_STEPS", killer)
        return contextlib.nullcontext()
    if boundary == "files-staged-no-journal":
        return _one_shot(monkeypatch, publish_mod, "commit", lambda *a: True)
    if boundary == "journal-written-no-rename":
        return _one_shot(monkeypatch, workdir_mod, "_apply", lambda *a: True)
    if boundary.startswith("after-") and "rename" in boundary:
        return _one_shot(monkeypatch, os, "replace", _final_renames(wd, int(boundary[6])))
    if boundary == "renamed-journal-left":
        return _one_shot(monkeypatch, Door, "remove", lambda door, p, *a: p == wd.journal)
    assert boundary == "during-file-report"
    killer = replace(PLAIN_STEPS, file_report=_die)
    monkeypatch.setattr(pipeline, "PLAIN_STEPS", killer)
    return contextlib.nullcontext()


def _partial(workdir: Path, steps: Any = None) -> Any:
    params = parse_params(base_raw(run_type="partial", update_limit=100))
    return run_import(
        params, WorkDir(workdir, "3", "workperiod"), LocalOnlySink(), steps or pipeline.PLAIN_STEPS
    )


@pytest.fixture
def day_two(tmp_path: Path) -> dict[str, Any]:
    """Day 1 completed (old set), the day-2 file in place, and the day-2 result (new set)."""
    old_dir = tmp_path / "old"
    old_dir.mkdir()
    old = seed_full_run(old_dir, "workperiod")
    place(old_dir, SAMPLES / "workperiod" / "next_day" / "workperiod.csv")
    new_dir = tmp_path / "new"
    shutil.copytree(old_dir, new_dir)
    assert _partial(new_dir).decision is Decision.COMPLETED
    new = Snapshot.of(new_dir, "workperiod")
    changes = {r["objectGUID"] for r in json.loads(new.output or b"[]")}
    assert changes == {"WP-0013", "WP-0014", "WP-0040", "WP-0041"}
    return {"old_dir": old_dir, "old": old, "new": new, "changes": changes}


def _state(workdir: Path, old: Snapshot, new: Snapshot) -> str:
    snap = Snapshot.of(workdir, "workperiod")
    if snap == old:
        return "old"
    if snap == new:
        return "new"
    return "mixed"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("boundary", list(BOUNDARIES))
def test_kill_at_a_step_boundary_leaves_the_old_or_the_new_set(
    tmp_path: Path, day_two: dict[str, Any], boundary: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = tmp_path / "killed"
    shutil.copytree(day_two["old_dir"], workdir)
    wd = WorkDir(workdir, "3", "workperiod")
    old, new = day_two["old"], day_two["new"]
    with _kill_at(boundary, wd, monkeypatch), pytest.raises(Killed):
        _partial(workdir)
    monkeypatch.undo()

    # each file is one of the two complete versions, never a torn one
    snap = Snapshot.of(workdir, "workperiod")
    assert snap.archive in (old.archive, new.archive)
    assert snap.error_archive in (old.error_archive, new.error_archive)
    assert snap.output in (old.output, new.output)
    # the next run first finishes or discards what was in flight: one complete set
    recover(wd)
    assert _state(workdir, old, new) == BOUNDARIES[boundary]
    assert leftovers(workdir) == []
    # and the rerun completes (the dead run's lock is gone) with the day-2 archive
    rerun = _partial(workdir)
    assert rerun.decision is Decision.COMPLETED, rerun.interruption
    assert Snapshot.of(workdir, "workperiod").archives == new.archives


def test_recovery_drops_what_a_killed_run_was_writing_and_nothing_else(tmp_path: Path) -> None:
    """A kill while the admin task, the changes list, the run record or the hand-over mark is
    written leaves ``.<name>.tmp-<pid>``; the next run of the task removes them, and only them."""
    wd = WorkDir(tmp_path, "3", "workperiod")
    other = WorkDir(tmp_path, "4", "organization")  # another task's files, another lock
    wd.archive_dir.mkdir(parents=True)
    ours = [
        staged_name(p)
        for p in (
            wd.admin_task_json,
            wd.admin_task_markdown,
            wd.changes_csv,
            wd.last_run,
            wd.undelivered,
            wd.output,
            wd.archive,
        )
    ]
    theirs = [
        staged_name(other.admin_task_markdown),
        staged_name(other.archive),
        other.admin_task_json,
    ]
    for path in ours + theirs:
        path.write_text("half written", encoding="utf-8")

    recover(wd)

    assert [p for p in ours if p.exists()] == []
    assert [p for p in theirs if not p.exists()] == []


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "boundary",
    list(BOUNDARIES),
)
def test_rerun_after_a_kill_delivers_the_changes(
    tmp_path: Path, day_two: dict[str, Any], boundary: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = tmp_path / "killed"
    shutil.copytree(day_two["old_dir"], workdir)
    killer = _kill_at(boundary, WorkDir(workdir, "3", "workperiod"), monkeypatch)
    with killer, pytest.raises(Killed):
        _partial(workdir)
    monkeypatch.undo()
    rerun = _partial(workdir)
    assert rerun.decision is Decision.COMPLETED
    output = json.loads((workdir / "3_output.json").read_text(encoding="utf-8"))
    assert {r["objectGUID"] for r in output} == day_two["changes"]


def test_temp_files_of_a_write_killed_midway_are_ignored_and_removed(
    tmp_path: Path, day_two: dict[str, Any]
) -> None:
    """SIGKILL in the middle of writing a temp file: a torn sibling is left, nothing else."""
    workdir = tmp_path / "killed"
    shutil.copytree(day_two["old_dir"], workdir)
    wd = WorkDir(workdir, "3", "workperiod")
    for final in (wd.output, wd.archive, wd.error_archive):
        torn = final.with_name(f".{final.name}.tmp-424242")
        torn.write_bytes(b'[\n{"row_id":"WP-9999","last_na')
    (workdir / "in" / ".workperiod.csv.tmp-424242").write_bytes(b"row_id;last_name\nWP-1")
    rerun = _partial(workdir)
    assert rerun.decision is Decision.COMPLETED
    assert Snapshot.of(workdir, "workperiod") == day_two["new"]
    # the torn temp files beside the outputs are removed; the one in the input folder is not the
    # connector's (it never writes there without SFTP) and is left alone
    assert leftovers(workdir) == ["in/.workperiod.csv.tmp-424242"]


# --------------------------------------------------------------------------------------------
# SIGKILL of a real EPE subprocess at spread delays
# --------------------------------------------------------------------------------------------

KILLS = 10


def _wait_for_log(workdir: Path, proc: subprocess.Popen[bytes], timeout: float = 30) -> float:
    """When the run has started (its log names it); the kill delays count from here."""
    log = workdir / "3_log.txt"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and b"HR import workperiod" in log.read_bytes():
            return time.monotonic()
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before it logged: {proc.returncode}")
        time.sleep(0.005)
    raise AssertionError("the run did not start")


def _start(workdir: Path, **extra: Any) -> subprocess.Popen[bytes]:
    params = base_raw(run_type="partial", update_limit=10**6, taskid=3, **extra)
    return start_engine(workdir, params, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


#: kills at the first sight of a file being written (polled every millisecond): mid-write
WRITE_TRIGGERS = {
    "output temp file": ".3_output.json.tmp-*",
    "error archive temp file": "data/archive/.error_workperiod_archive.json.tmp-*",
    "archive temp file": "data/archive/.workperiod_archive.json.tmp-*",
    "commit journal": "data/archive/.workperiod_commit.json*",
}


#: kills while the committed run files its admin task (an ESM that accepts and never answers):
#: after the commit, before the run's end
AFTER_COMMIT = "filing the admin task"


def _kill_while_filing(workdir: Path, proc: subprocess.Popen[bytes]) -> None:
    """Kill once the run has replaced its kept admin task (JSON, then this Markdown copy): it is
    written after the commit, and filing it then waits for the silent ESM."""
    task = workdir / "3_admin_task.md"
    before = task.stat().st_ino
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(FileNotFoundError):
            if task.stat().st_ino != before:
                break
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)


def _kill_when_seen(workdir: Path, proc: subprocess.Popen[bytes], pattern: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if next(workdir.glob(pattern), None) is not None:
            break
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_sigkill_at_spread_delays_and_mid_write_never_tears_the_archives(tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    workperiod_file(seed / "in" / "wp.csv", day=1)
    assert run_plain(seed, data_type="workperiod", update_limit=10**6).decision.value == (
        "completed"
    )
    old = Snapshot.of(seed, "workperiod")
    workperiod_file(seed / "in" / "wp.csv", day=2)

    # one uninterrupted run: the new set, and how long a run takes once started
    ref = tmp_path / "ref"
    shutil.copytree(seed, ref)
    proc = _start(ref)
    started = _wait_for_log(ref, proc)
    assert proc.wait(timeout=120) == 0
    duration = time.monotonic() - started
    new = Snapshot.of(ref, "workperiod")
    assert new.archive != old.archive and new.output != old.output

    rng = random.Random(20261126)
    plans: list[float | str] = [duration * (k + rng.random()) / KILLS for k in range(KILLS)]
    plans += [*WRITE_TRIGGERS, AFTER_COMMIT]
    seen: list[tuple[str, str, str]] = []
    silent_esm = socket.socket()  # accepts connections (backlog) and never answers
    silent_esm.bind(("127.0.0.1", 0))
    silent_esm.listen(8)
    silent_url = f"http://127.0.0.1:{silent_esm.getsockname()[1]}"
    for n, plan in enumerate(plans):
        workdir = tmp_path / f"kill{n}"
        shutil.copytree(seed, workdir)
        if plan == AFTER_COMMIT:
            proc = _start(workdir, webapi_url=silent_url, webapi_timeout_seconds=5)
            _wait_for_log(workdir, proc)
            _kill_while_filing(workdir, proc)
        else:
            proc = _start(workdir)
            began = _wait_for_log(workdir, proc)
        if isinstance(plan, float):
            time.sleep(max(0.0, began + plan - time.monotonic()))
            proc.send_signal(signal.SIGKILL)
        elif plan in WRITE_TRIGGERS:
            _kill_when_seen(workdir, proc, WRITE_TRIGGERS[plan])
        code = proc.wait(timeout=30)
        snap = Snapshot.of(workdir, "workperiod")
        # never torn: every file is one of the two complete versions
        assert snap.archive in (old.archive, new.archive), plan
        assert snap.error_archive in (old.error_archive, new.error_archive), plan
        assert snap.output in (old.output, new.output), plan
        wd = WorkDir(workdir, "3", "workperiod")
        how = "mid-commit" if wd.journal.exists() else "mid-write" if leftovers(workdir) else ""
        marked = wd.undelivered.exists()  # the output was still marked undelivered
        recover(wd)  # what the next run does first
        state = _state(workdir, old, new)
        assert state in ("old", "new"), (plan, state)
        assert leftovers(workdir) == []
        how = how or (
            "finished" if code == 0 else f"{'after' if state == 'new' else 'before'} commit"
        )
        label = f"{plan:.2f} s" if isinstance(plan, float) else plan
        seen.append((label, state, how))

        rerun = run_plain(workdir, data_type="workperiod", run_type="partial", update_limit=10**6)
        assert rerun.decision is Decision.COMPLETED, rerun.interruption  # no stale lock
        after = Snapshot.of(workdir, "workperiod")
        assert after.archives == new.archives
        if how == "finished":  # exited 0: the platform imported it; nothing changed since
            assert after.output == b"[]\n", (label, how)
        else:  # not delivered, committed or not: the rerun outputs exactly the day's changes
            lost = "" if marked or state == "old" else " (killed after the mark was cleared)"
            assert after.output == new.output, f"{label}, {state}, {how}: changes lost{lost}"
        shutil.rmtree(workdir)
    silent_esm.close()
    print(f"run {duration:.2f} s; kills (when, state, how): {seen}")
    assert len(seen) == len(plans)
    hows = {how for _, _, how in seen}
    # the kills cover the run before, during and after its commit
    assert {"before commit", "mid-commit", "after commit", "mid-write"} <= hows, seen


# --------------------------------------------------------------------------------------------
# The disk fills up
# --------------------------------------------------------------------------------------------


class _FullDisk:
    """A file object whose writes fail with ENOSPC once ``room`` bytes are used."""

    def __init__(self, fh: Any, room: int) -> None:
        self._fh = fh
        self._room = room

    def write(self, data: bytes) -> int:
        if len(data) > self._room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return self._fh.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()


@contextlib.contextmanager
def _disk_full_for(monkeypatch: pytest.MonkeyPatch, name_part: str) -> Iterator[None]:
    """ENOSPC while writing the temp file whose name contains ``name_part``."""
    real = os.fdopen

    def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        path = os.readlink(f"/proc/self/fd/{fd}")
        fh = real(fd, *args, **kwargs)
        if name_part in os.path.basename(path) and ".tmp-" in path:
            return _FullDisk(fh, room=64)
        return fh

    monkeypatch.setattr(os, "fdopen", fdopen)
    yield
    monkeypatch.setattr(os, "fdopen", real)


TARGETS = [
    "_output.json",
    "error_workperiod_archive",
    ".workperiod_archive",
    "_commit.json",
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("target", TARGETS)
def test_disk_full_while_publishing_changes_no_archive_and_leaves_no_temp_file(
    tmp_path: Path, day_two: dict[str, Any], target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = tmp_path / "full"
    shutil.copytree(day_two["old_dir"], workdir)
    with _disk_full_for(monkeypatch, target), contextlib.suppress(OSError):
        _partial(workdir)
    assert Snapshot.of(workdir, "workperiod").archives == day_two["old"].archives
    assert leftovers(workdir) == []
    # once there is room again, the rerun gives the day-2 result
    assert _partial(workdir).decision is Decision.COMPLETED
    assert Snapshot.of(workdir, "workperiod") == day_two["new"]


@pytest.mark.timeout(60)
def test_disk_full_interrupts_the_run_clearly(
    tmp_path: Path, day_two: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = tmp_path / "full"
    shutil.copytree(day_two["old_dir"], workdir)
    with _disk_full_for(monkeypatch, ".workperiod_archive"):
        result = _partial(workdir)
    assert result.decision is Decision.INTERRUPTED
    assert result.interruption and "No space left on device" in result.interruption.message
    assert not (workdir / "3_output.json").exists()
    task = json.loads((workdir / "3_admin_task.json").read_text(encoding="utf-8"))
    assert task["decision"] == "interrupted"


# --------------------------------------------------------------------------------------------
# The ESM fails: 500, a hang, a closed socket
# --------------------------------------------------------------------------------------------


@pytest.fixture
def faulty_esm(esm: Any) -> Iterator[Any]:
    esm.clear_faults()
    yield esm
    esm.clear_faults()


def _esm_raw(esm: Any, **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "data_type": "title",
        "webapi_url": esm.url,
        "webapi_user": ESM_USER,
        "webapi_timeout_seconds": 1,
        "taskid": 3,
    }
    return base_raw(**{**values, **extra})


def _resend(workdir: Path, raw: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> str:
    params_file = workdir.parent / "params.json"
    params_file.write_text(json.dumps(raw), encoding="utf-8")
    capsys.readouterr()
    code = cli.main(
        ["resend-report", str(workdir / "3_admin_task.json"), "--params", str(params_file)]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Filed the admin task as datacard" in out
    return out.strip().rsplit(" ", 1)[-1]


def _card(esm: Any, card_id: str) -> dict[str, Any]:
    return json.loads((esm.datacards_dir / f"{card_id}.json").read_text(encoding="utf-8"))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fault", ["status-500", "hang", "close"])
def test_esm_failure_keeps_the_decision_and_the_admin_task_for_resend(
    workdir: Path, faulty_esm: Any, fault: str, capsys: pytest.CaptureFixture[str]
) -> None:
    esm = faulty_esm
    place(workdir, SAMPLES / "title" / "title.csv")
    if fault == "status-500":
        esm.fail_next(500, count=1, match="/dc/")
    elif fault == "hang":
        esm.hang_next(3, count=1, match="/users/login")
    else:
        esm.close_next(count=1, match="/users/login")
    raw = _esm_raw(esm)
    result = run_with_report(parse_params(raw), workdir, "3")

    # the data files are written as decided: the import itself completed
    assert result.decision is Decision.COMPLETED
    output = json.loads((workdir / "3_output.json").read_text(encoding="utf-8"))
    assert len(output) == 13
    assert (workdir / "data/archive/title_archive.json").exists()
    # the admin task is not filed, kept locally, and the run says how to re-send it
    assert result.admin_task_id is None and result.report_error
    assert {"status-500": "500", "hang": "did not answer", "close": "no usable answer"}[
        fault
    ] in result.report_error
    assert "resend-report" in (workdir / "3_log.txt").read_text(encoding="utf-8")
    kept = json.loads((workdir / "3_admin_task.json").read_text(encoding="utf-8"))
    assert kept["decision"] == "completed"
    # once the ESM answers again, resend-report files it
    esm.clear_faults()
    card = _card(esm, _resend(workdir, raw, capsys))
    assert kept["title"] in json.dumps(card, ensure_ascii=False)


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_epe_run_with_the_esm_answering_500_exits_0_and_resend_files_it(
    workdir: Path, faulty_esm: Any
) -> None:
    esm = faulty_esm
    place(workdir, SAMPLES / "title" / "title.csv")
    esm.fail_next(500, count=1, match="/users/login")
    raw = _esm_raw(esm)
    proc = epe(workdir, raw)
    assert proc.returncode == 0, proc.stderr  # the archive moved: the output must be imported
    assert proc.stdout.strip().splitlines()[-1] == str(workdir.resolve() / "3_output.json")
    assert "could NOT be filed" in proc.stderr and "500" in proc.stderr
    assert "Traceback" not in proc.stderr
    params_file = workdir.parent / "params.json"
    params_file.write_text(json.dumps(raw), encoding="utf-8")
    resend = subprocess.run(
        [str(HR_CONNECTOR), "resend-report", "3_admin_task.json", "--params", str(params_file)],
        cwd=workdir,
        env=engine_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert resend.returncode == 0, resend.stderr
    card_id = resend.stdout.strip().rsplit(" ", 1)[-1]
    assert (esm.datacards_dir / f"{card_id}.json").exists()


@pytest.mark.timeout(60)
def test_resend_report_while_the_esm_is_still_down_says_so(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hr_connector.clients import esm as esm_mod

    monkeypatch.setattr(esm_mod.time, "sleep", lambda seconds: None)  # its 2/10/30 s backoff
    place(workdir, SAMPLES / "title" / "title.csv")
    run_plain(workdir, data_type="title")
    raw = base_raw(data_type="title", webapi_timeout_seconds=1)  # http://127.0.0.1:9: refused
    params_file = workdir.parent / "params.json"
    params_file.write_text(json.dumps(raw), encoding="utf-8")
    code = cli.main(
        ["resend-report", str(workdir / "3_admin_task.json"), "--params", str(params_file)]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("hr-connector: the admin task was not filed") and "127.0.0.1" in err
    assert WEBAPI_PASSWORD not in err


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_flow_retries_an_esm_500_and_files_the_task(
    prefect_server: str, workdir: Path, faulty_esm: Any
) -> None:
    from hr_connector.flows.hr_import import run_flow

    esm = faulty_esm
    place(workdir, SAMPLES / "title" / "title.csv")
    esm.fail_next(500, count=1, match="/dc/IGAWorkflowTaskInformation/data")
    before = len(esm.requests)
    result = run_flow(_esm_raw(esm, webapi_timeout_seconds=5), workdir, "3")
    assert result.decision is Decision.COMPLETED
    assert result.admin_task_id and result.report_error is None
    statuses = [r.status for r in list(esm.requests)[before:] if r.path.endswith("/data")]
    assert statuses[:2] == [500, 201], statuses
    assert len(json.loads((workdir / "3_output.json").read_text(encoding="utf-8"))) == 13
