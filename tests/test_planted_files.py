"""Hostile files in the working directory: a link, a hard link, a named pipe or a folder planted at
any path a run touches, modules planted to run as ours, and a kept admin task edited to send other
files. Whatever is planted, nothing outside the working directory changes, no run hangs, and the
run either refuses in one clear line or runs correctly; nothing planted ever runs.

The paths come from :meth:`hr_connector.workdir.WorkDir.paths` (the one table of every file and
folder a run touches) and the run's ``file_path``: a new side file is covered without editing
this module.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hr_connector import attachments, epe
from hr_connector.workdir import WorkDir, _TaskFile

from conftest import ESM_USER, base_raw
from run_helpers import SCRIPT, script_env

TASK = "3"
DATA_TYPE = "title"
ROWS = 40
#: What a planted file does when it is run: leave a trace outside the working directory.
TRACE = "import pathlib; pathlib.Path({trace!r}, __name__.replace('.', '_')).touch()\n"


def _title_file(path: Path, day: int) -> None:
    """Job titles; day 2 renames every 5th title and adds two."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        f"T{i:03d};{'Senior ' if day == 2 and i % 5 == 0 else ''}Title {i}"
        for i in range(ROWS + (2 if day == 2 else 0))
    ]
    path.write_text("title_id;title_name\n" + "\n".join(rows) + "\n", encoding="utf-8")


def _params(esm: Any, variant: str, **extra: Any) -> dict[str, Any]:
    limit = 10**6 if variant == "completed" else 1  # day 2 has 10 updates
    values: dict[str, Any] = {
        "run_type": "partial",
        "update_limit": limit,
        "webapi_url": esm.url,
        "webapi_user": ESM_USER,
        "taskid": int(TASK),
    }
    return base_raw(DATA_TYPE, **{**values, **extra})


def _wrapper(root: Path, params: dict[str, Any]) -> tuple[int, str, str]:
    """``IGAConnector.py``'s entry (``hr_connector.epe.main``), in this process: fast enough to
    run for every planted path; the process boundary has tests of its own below."""
    out, err = io.StringIO(), io.StringIO()
    stdin = io.StringIO(json.dumps(params) + "\n")
    code = epe.main(["--workdir", str(root)], stdin=stdin, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory, esm: Any) -> Path:
    """Day 1 imported (the archives exist); the day-2 file in place."""
    root = tmp_path_factory.mktemp("planted") / "seed"
    _title_file(root / "in" / "title.csv", day=1)
    params = {**_params(esm, "completed"), "run_type": "full"}
    assert _wrapper(root, params)[0] == 0
    _title_file(root / "in" / "title.csv", day=2)
    return root


@pytest.fixture(scope="module")
def reference(seed: Path, esm: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What each variant does with nothing planted: its exit code and output."""
    found: dict[str, Any] = {}
    for variant in ("completed", "interrupted"):
        root = tmp_path_factory.mktemp("reference") / variant
        shutil.copytree(seed, root)
        code, _, err = _wrapper(root, _params(esm, variant))
        output = root / f"{TASK}_output.json"
        found[variant] = (code, output.read_bytes() if output.exists() else None)
        assert code == (0 if variant == "completed" else 1), err
    return found


def _paths() -> dict[str, str]:
    """Every path a run of the task touches, relative: the table's and the HR file's."""
    wd = WorkDir(Path("/nonexistent-root"), TASK, DATA_TYPE)
    table = {n: getattr(wd, n) for n, v in vars(WorkDir).items() if isinstance(v, _TaskFile)}
    table |= {f"zipped {p.name}": wd.zipped(p.name) for p in wd.attached}
    for path in list(table.values()):  # and every folder on the way
        for folder in path.relative_to(wd.root).parents[:-1]:
            table.setdefault(str(folder), wd.root / folder)
    found = {name: str(p.relative_to(wd.root)) for name, p in table.items()}
    found |= {"HR file": "in/title.csv", "HR folder": "in"}
    return found


class Outside:
    """A file and a folder outside the working directory, and what they hold now."""

    def __init__(self, root: Path) -> None:
        root.mkdir()
        self.file = root / "victim.txt"
        self.file.write_text("not the connector's\n", encoding="utf-8")
        self.file.chmod(0o644)
        self.folder = root / "folder"
        self.folder.mkdir()
        (self.folder / "kept.txt").write_text("kept\n", encoding="utf-8")
        self.root = root
        self.before = self.state()

    def state(self) -> dict[str, tuple[int, bytes]]:
        return {
            str(p.relative_to(self.root)): (
                p.lstat().st_mode,
                p.read_bytes() if p.is_file() else b"",
            )
            for p in sorted(self.root.rglob("*"))
        }


PLANTS: dict[str, Callable[[Path, Outside], None]] = {
    "symlink to a file outside": lambda p, o: p.symlink_to(o.file),
    "symlink to a folder outside": lambda p, o: p.symlink_to(o.folder, target_is_directory=True),
    "hard link to a file outside": lambda p, o: os.link(o.file, p),
    "named pipe": lambda p, o: os.mkfifo(p),
    "folder": lambda p, o: p.mkdir(),
}


def _plant(root: Path, relative: str, kind: str, outside: Outside) -> None:
    target = root / relative
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif target.exists() or target.is_symlink():
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    PLANTS[kind](target, outside)


def assert_refused_or_correct(
    code: int, out: str, err: str, relative: str, expected: tuple[int, bytes | None], root: Path
) -> None:
    """Exit 0 with the output a clean run writes, or exit 1 that reads as a decision: the
    interruption in one line, the planted path named when the door refused it."""
    assert "Traceback" not in err and "unexpectedly" not in err, err
    if code == 0:
        assert expected[0] == 0, err  # a stopped run never completes because of a plant
        assert out.strip().splitlines()[-1] == str(root / f"{TASK}_output.json")
        assert (root / f"{TASK}_output.json").read_bytes() == expected[1]
        return
    assert code == 1, err
    assert err.startswith("hr-connector: Interrupted, nothing imported: "), err
    if "in the working directory is" in err:
        assert f"'{relative}' in the working directory is" in err, err


@pytest.mark.timeout(60)
@pytest.mark.parametrize("variant", ["completed", "interrupted"])
@pytest.mark.parametrize("kind", list(PLANTS))
@pytest.mark.parametrize("name", list(_paths()))
def test_a_planted_link_pipe_or_folder_at_any_path_of_a_run_changes_nothing_outside(
    seed: Path,
    reference: dict[str, Any],
    esm: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    kind: str,
    variant: str,
) -> None:
    relative = _paths()[name]
    if kind == "folder" and (seed / relative).is_dir():
        pytest.skip(f"{relative} is a folder already")
    monkeypatch.setattr(attachments, "ZIP_ABOVE_BYTES", 0)  # every attachment zipped: its path too
    root = tmp_path / "work"
    shutil.copytree(seed, root)
    outside = Outside(tmp_path / "outside")
    _plant(root, relative, kind, outside)

    # the legacy XML Web API files the task in one call and still reads every attachment (its
    # size, rows and SHA-256 are listed instead): a short run; the REST API where the zips are
    api = "rest" if relative.startswith("data/attachments") else "xml"
    code, out, err = _wrapper(root, _params(esm, variant, webapi_kind=api))

    assert outside.state() == outside.before
    assert_refused_or_correct(code, out, err, relative, reference[variant], root)


# --- the same through the script as the engine starts it ------------------------------------


def _engine(
    root: Path, params: dict[str, Any], script: Path = SCRIPT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(script)],
        input=json.dumps(params) + "\n",
        cwd=root,
        env=script_env(HR_CONNECTOR_ORCHESTRATION="plain"),
        capture_output=True,
        text=True,
        timeout=60,  # a run that hangs on a planted pipe fails here
    )


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("lock", "symlink to a file outside"),
        ("undelivered", "symlink to a file outside"),
        ("undelivered", "hard link to a file outside"),
        ("attachments_dir", "symlink to a folder outside"),
        ("log", "hard link to a file outside"),
        ("log", "named pipe"),
        ("archive", "named pipe"),
    ],
)
def test_the_engine_running_the_script_on_a_planted_path_changes_nothing_outside(
    seed: Path, reference: dict[str, Any], esm: Any, tmp_path: Path, name: str, kind: str
) -> None:
    relative = _paths()[name]
    root = tmp_path / "work"
    shutil.copytree(seed, root)
    outside = Outside(tmp_path / "outside")
    _plant(root, relative, kind, outside)

    proc = _engine(root, _params(esm, "completed"))

    assert outside.state() == outside.before
    assert_refused_or_correct(
        proc.returncode, proc.stdout, proc.stderr, relative, reference["completed"], root
    )


# --- nothing runs from the working directory ------------------------------------------------

PLANTED_MODULES = (
    "orjson.py",
    "polars.py",
    "pydantic/__init__.py",
    "hr_connector/__init__.py",
    "hr_connector/epe.py",
    "json.py",
    "typing_extensions.py",
    "sitecustomize.py",
)


def _plant_modules(folder: Path, trace: Path) -> None:
    for name in PLANTED_MODULES:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(TRACE.format(trace=str(trace)), encoding="utf-8")


@pytest.mark.timeout(120)
def test_modules_planted_in_the_working_directory_never_run(
    seed: Path, reference: dict[str, Any], esm: Any, tmp_path: Path
) -> None:
    """The vendor copies the script into ``custom-provisioning-scripts/`` (the working
    directory) and ``only_scheduled/`` below it; modules planted beside either copy, or in the
    working directory, are never imported, and the run completes as if they were not there."""
    trace = tmp_path / "trace"
    trace.mkdir()
    root = tmp_path / "custom-provisioning-scripts"
    shutil.copytree(seed, root)
    scheduled = root / "only_scheduled"
    scheduled.mkdir()
    for folder in (root, scheduled):
        shutil.copy2(SCRIPT, folder / "IGAConnector.py")
        if folder != root:
            _plant_modules(folder, trace)
    _plant_modules(root, trace)
    for script in (root / "IGAConnector.py", scheduled / "IGAConnector.py"):
        proc = _engine(root, {**_params(esm, "completed"), "run_type": "full"}, script)
        assert sorted(p.name for p in trace.iterdir()) == [], proc.stderr
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr


# --- resend-report sends the run's own files, by name, from the working directory ----------


@pytest.mark.timeout(120)
def test_resend_report_never_follows_paths_edited_into_the_kept_admin_task(
    seed: Path, esm: Any, tmp_path: Path
) -> None:
    root = tmp_path / "work"
    shutil.copytree(seed, root)
    secret = tmp_path / "outside.json"
    secret.write_text('[{"secret": "not for the ESM"}]\n', encoding="utf-8")
    params = _params(esm, "completed")
    assert _engine(root, params).returncode == 0
    kept = root / f"{TASK}_admin_task.json"
    task = json.loads(kept.read_text(encoding="utf-8"))
    names = [a["name"] for a in task["attachments"]]
    assert f"{DATA_TYPE}_archive.json" in names
    for attachment in task["attachments"]:  # every path edited to point outside
        attachment["path"] = str(secret)
        attachment["source"] = str(secret)
    task["attachments"].append({"name": "outside.json", "path": str(secret)})
    kept.write_text(json.dumps(task), encoding="utf-8")
    params_file = tmp_path / "params.json"
    params_file.write_text(json.dumps(params), encoding="utf-8")

    resend = subprocess.run(
        [
            str(Path(sys.executable).parent / "hr-connector"),
            "resend-report",
            kept.name,
            "--params",
            str(params_file),
        ],
        cwd=root,
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert resend.returncode == 0, resend.stderr
    card = resend.stdout.strip().rsplit(" ", 1)[-1]
    sent = sorted(esm.file_path(card, n).read_bytes() for n in names)
    own = sorted(
        (root / p).read_bytes()
        for p in (
            f"data/archive/{DATA_TYPE}_archive.json",
            f"{TASK}_output.json",
            f"data/archive/error_{DATA_TYPE}_archive.json",
            f"{TASK}_changes.csv",
            f"{TASK}_admin_task.json",  # the task as data: the kept file, by its name
        )
        if any(n == Path(p).name for n in names)
    )
    assert sent == own
    datacard = json.dumps(esm.datacard(card), ensure_ascii=False)
    assert "not for the ESM" not in datacard and "outside.json" not in datacard


# --- under Prefect: the refusal is the flow run's Failed state, not a crash -----------------


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_under_prefect_a_refused_path_fails_the_flow_run_with_its_name(
    prefect_server: str, seed: Path, esm: Any, tmp_path: Path
) -> None:
    from hr_connector.flows.hr_import import run_flow

    from prefect_helpers import eventually, flow_run_named, stored_text

    root = tmp_path / "work"
    shutil.copytree(seed, root)
    outside = Outside(tmp_path / "outside")
    _plant(root, "31_log.txt", "hard link to a file outside", outside)

    result = run_flow(_params(esm, "completed", taskid=31), root, "31")

    assert outside.state() == outside.before
    assert result.interruption is not None and result.interruption.case == "unsafe_file"
    assert result.admin_task_id  # filed all the same
    run = flow_run_named("title-task-31")
    assert run is not None and run.state.is_failed()
    assert "'31_log.txt' in the working directory is a hard-linked file" in run.state.message
    stored = eventually(lambda: (text := stored_text(run.id)) and "31_log.txt" in text and text)
    assert "Traceback" not in stored and "unexpected" not in stored.lower()


def test_an_undelivered_output_marked_per_task_by_an_earlier_version_is_output_again(
    seed: Path, esm: Any, tmp_path: Path
) -> None:
    """An upgrade between a killed run and its rerun: the earlier version kept the mark and the
    base per task (``.title_3_undelivered``, ``.title_archive.json.3.prev``)."""
    root = tmp_path / "work"
    shutil.copytree(seed, root)
    archive = root / "data" / "archive"
    before = {
        n: (archive / n).read_bytes() for n in ("title_archive.json", "error_title_archive.json")
    }
    code, _, err = _wrapper(root, _params(esm, "completed"))
    assert code == 0, err
    changed = json.loads((root / f"{TASK}_output.json").read_text(encoding="utf-8"))
    assert len(changed) == 10
    for name, content in before.items():  # killed after this commit, by the earlier version
        (archive / f".{name}.{TASK}.prev").write_bytes(content)
    (archive / f".{DATA_TYPE}_{TASK}_undelivered").write_text("undelivered\n", encoding="utf-8")

    code, _, err = _wrapper(root, _params(esm, "completed"))

    assert code == 0, err
    assert json.loads((root / f"{TASK}_output.json").read_text(encoding="utf-8")) == changed
    assert sorted(p.name for p in archive.glob(f".*{TASK}*")) == []  # taken over, not left
