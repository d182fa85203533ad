"""``hr-connector bundle DIR``: installed like the vendor's script, run by a bare Python.

The bundle is built with pip's ``--target``/``--only-binary``/``--python-version``/``--platform``
machinery for a named target, then run by a fresh virtual environment without the package (the
worker's bare Python) and compared with the installed wrapper on the same customer input.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import SAMPLES
from vendor_helpers import MAPPINGS, engine, filed_task, local_params, vendor_workdir

PLATFORM = "manylinux2014_x86_64"
#: (target version, a Python of that version on this machine)
PYTHONS = {
    "3.11": Path("/usr/bin/python3.11"),  # the oldest the connector supports
    "3.13": Path.home() / ".pyenv" / "versions" / "3.13.0" / "bin" / "python3.13",
}
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def build(target: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hr_connector.cli", "bundle", str(target), *extra],
        capture_output=True,
        text=True,
        timeout=600,
    )


def bare_python(python: Path, where: Path) -> Path:
    """A fresh virtual environment of ``python``: no hr-connector, no dependencies, no pip."""
    subprocess.run([str(python), "-m", "venv", "--without-pip", str(where)], check=True)
    found = subprocess.run(
        [str(where / "bin" / "python"), "-c", "import pydantic"], capture_output=True, text=True
    )
    assert found.returncode != 0  # really nothing installed
    return where / "bin"


@pytest.fixture(scope="module", params=list(PYTHONS))
def bundle(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    version = request.param
    python = PYTHONS[version]
    if not python.exists():
        pytest.skip(f"no Python {version} on this machine")
    target = tmp_path_factory.mktemp(f"bundle-{version}") / "hr-connector"
    proc = build(target, "--python-version", version, "--platform", PLATFORM)
    assert proc.returncode == 0, proc.stderr
    bin_dir = bare_python(python, tmp_path_factory.mktemp(f"bare-{version}") / "venv")
    return target, bin_dir, version


def run_bundle(
    target: Path, bin_dir: Path, workdir: Path, stdin: str, home: Path | None = None
) -> Any:
    """The bundle as the engine runs it: its shebang, a PATH whose python3 is the bare one."""
    return subprocess.run(
        [str(target / "IGAConnector.py")],
        input=stdin,
        cwd=workdir,
        env={"PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin", "HOME": str(home or workdir)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bundle_holds_the_wrapper_the_connector_and_no_prefect(bundle: Any) -> None:
    target, _, version = bundle
    wrapper = Path(__file__).resolve().parents[1] / "deployments" / "epe" / "IGAConnector.py"
    assert (target / "IGAConnector.py").read_bytes() == wrapper.read_bytes()
    assert os.access(target / "IGAConnector.py", os.X_OK)
    lib = target / "hr_connector_lib"
    for package in ("hr_connector", "pydantic", "pydantic_core", "lxml", "paramiko", "orjson"):
        assert (lib / package).is_dir(), package
    assert (lib / "hr_connector" / "translations" / "translation.json").is_file()
    assert not (lib / "prefect").exists()
    abi = f"cpython-{version.replace('.', '')}"
    assert list((lib / "pydantic_core").glob(f"*{abi}*.so")), "wheels for the named Python"
    meta = json.loads((lib / "BUNDLE.json").read_text(encoding="utf-8"))
    assert meta["with_prefect"] is False and meta["python_version"] == version


@pytest.mark.parametrize("data_type", ["workperiod", "title"])
def test_bundle_on_a_bare_python_writes_what_the_installed_wrapper_writes(
    bundle: Any, tmp_path: Path, esm: Any, data_type: str
) -> None:
    target, bin_dir, _ = bundle
    runs = {}
    for who in ("installed", "bundle"):
        workdir = tmp_path / who
        workdir.mkdir()
        vendor_workdir(workdir, data_type)  # the vendor's example, archive and translations
        stdin = local_params(esm, data_type) + MAPPINGS
        if who == "installed":
            proc = engine(workdir, stdin)
        else:
            proc = run_bundle(target, bin_dir, workdir, stdin)
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
        filed_task(proc, esm, workdir)
        runs[who] = workdir
    for name in (
        "1042_output.json",
        f"data/archive/{data_type}_archive.json",
        f"data/archive/error_{data_type}_archive.json",
    ):
        assert (runs["bundle"] / name).read_bytes() == (runs["installed"] / name).read_bytes()
    tasks = [  # the same but for where each ran (a skipped check names its archive folder)
        json.loads((runs[w] / "1042_admin_task.json").read_text().replace(str(runs[w]), "WORKDIR"))
        for w in runs
    ]
    for task in tasks:
        task.pop("created_at")
        for attachment in task["attachments"]:
            attachment["path"] = Path(attachment["path"]).name
    assert tasks[0] == tasks[1]


def test_older_python_gets_one_clear_line(tmp_path: Path) -> None:
    old = Path.home() / ".pyenv" / "versions" / "3.10.13" / "bin" / "python3.10"
    if not old.exists():
        pytest.skip("no Python 3.10 on this machine")
    script = Path(__file__).resolve().parents[1] / "deployments" / "epe" / "IGAConnector.py"
    proc = subprocess.run(
        [str(old), str(script)], input="{}\n", capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode == 2
    assert proc.stderr == "IGAConnector.py: Python 3.11 or newer is required\n"


def test_bundle_refuses_a_target_older_than_supported(tmp_path: Path) -> None:
    proc = build(tmp_path / "b", "--python-version", "3.10")
    assert proc.returncode == 1
    assert "needs Python 3.11 or newer" in proc.stderr
    assert not (tmp_path / "b").exists()


def test_bundle_refuses_a_folder_in_use(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    shutil.copy(SAMPLES / "title" / "title.csv", tmp_path / "b")
    proc = build(tmp_path / "b")
    assert proc.returncode == 1 and "not an empty folder" in proc.stderr
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["title.csv"]


# --- one file to copy ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``hr-connector bundle --one-file`` for Python 3.11, and a bare Python 3.11."""
    python = PYTHONS["3.11"]
    if not python.exists():
        pytest.skip("no Python 3.11 on this machine")
    target = tmp_path_factory.mktemp("one-file") / "hr-connector"
    proc = build(target, "--one-file", "--python-version", "3.11", "--platform", PLATFORM)
    assert proc.returncode == 0, proc.stderr
    return target, bare_python(python, tmp_path_factory.mktemp("bare-one-file") / "venv")


def test_one_file_runs_on_a_bare_python_as_the_installed_wrapper_does(
    one_file: tuple[Path, Path], tmp_path: Path, esm: Any
) -> None:
    """One IGAConnector.py, copied alone: its first run unpacks the library into a private
    cache named by its content (outside the working directory), later runs use it."""
    target, bin_dir = one_file
    assert [p.name for p in target.iterdir()] == ["IGAConnector.py"]
    assert os.access(target / "IGAConnector.py", os.X_OK)
    home = tmp_path / "home"
    home.mkdir()
    outputs = {}
    for who in ("installed", "one-file", "one-file-again"):
        workdir = tmp_path / who
        workdir.mkdir()
        vendor_workdir(workdir, "workperiod")
        stdin = local_params(esm, "workperiod") + MAPPINGS
        if who == "installed":
            proc = engine(workdir, stdin)
        else:
            proc = run_bundle(target, bin_dir, workdir, stdin, home)
        assert proc.returncode == 0, proc.stderr
        filed_task(proc, esm, workdir)
        outputs[who] = (workdir / "1042_output.json").read_bytes()
        kept = ["1042_admin_task.json", "1042_admin_task.md", "1042_changes.csv"]
        assert sorted(p.name for p in workdir.iterdir()) == sorted(
            ["data", "misc-files", "1042_output.json", "1042_log.txt", *kept]
        )
    assert outputs["one-file"] == outputs["installed"] == outputs["one-file-again"]
    cache = home / ".cache" / "hr-connector"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    (unpacked,) = [p for p in cache.iterdir()]
    assert (unpacked / "hr_connector" / "epe.py").is_file() and (unpacked / ".complete").exists()


def test_one_file_refuses_a_cache_open_to_others(
    one_file: tuple[Path, Path], tmp_path: Path
) -> None:
    target, bin_dir = one_file
    cache = tmp_path / "home" / ".cache" / "hr-connector"
    cache.mkdir(parents=True)
    cache.chmod(0o777)
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = run_bundle(target, bin_dir, workdir, "{}\n", tmp_path / "home")
    assert proc.returncode == 2
    assert proc.stderr == (
        f"IGAConnector.py: the cache folder {cache} is open to other users (mode 777): "
        "remove it, or set XDG_CACHE_HOME.\n"
    )
    assert list(cache.iterdir()) == [] and list(workdir.iterdir()) == []


def test_one_file_on_another_python_says_which_bundle_to_build(
    one_file: tuple[Path, Path], tmp_path: Path
) -> None:
    other = PYTHONS["3.13"]
    if not other.exists():
        pytest.skip("no Python 3.13 on this machine")
    target, _ = one_file
    proc = subprocess.run(
        [str(other), str(target / "IGAConnector.py")],
        input="{}\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"HOME": str(tmp_path)},
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "this bundle is for Python 3.11" in proc.stderr
    assert "hr-connector bundle --one-file --python-version 3.13" in proc.stderr


def test_a_copy_of_the_script_without_its_library_says_what_to_copy(tmp_path: Path) -> None:
    python = PYTHONS["3.11"]
    if not python.exists():
        pytest.skip("no Python 3.11 on this machine")
    folder = tmp_path / "only_scheduled"
    folder.mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "deployments/epe/IGAConnector.py", folder)
    bin_dir = bare_python(python, tmp_path / "venv")
    proc = run_bundle(folder, bin_dir, tmp_path, "{}\n")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert f"copy the bundle's folder hr_connector_lib/ into {folder}/ beside it" in proc.stderr
    assert "'hr-connector bundle --one-file'" in proc.stderr
