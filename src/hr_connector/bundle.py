"""``hr-connector bundle DIR``: the connector installed like the vendor's one-file script.

The connector and its runtime dependencies for a named target Python and platform, fetched by
pip, so the worker's Python needs nothing installed. With ``--one-file`` a zip application
(:mod:`hr_connector.onefile_main`) that unpacks its library to a private cache on its first run:
compiled modules cannot be imported from a zip.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tempfile
import zipapp
from pathlib import Path

#: The folder beside IGAConnector.py that the wrapper puts first on sys.path.
LIB = "hr_connector_lib"
DIST = "hr-connector"
#: The oldest Python the wrapper and the connector run on (pyproject's requires-python).
MIN_PYTHON = (3, 11)
#: the roots of the connector's packages (pyproject maps flows/, tasks/ and translations/ under
#: hr_connector); their sub-packages are found by walking them, see :func:`connector_packages`
PACKAGE_ROOTS = (
    "hr_connector",
    "hr_connector.flows",
    "hr_connector.tasks",
    "hr_connector.translations",
)
PACKAGE_FILES = ("*.py", "*.json", "py.typed")
WRAPPER_NAME = "IGAConnector.py"
PIP_OPTIONS = ("--no-input", "--no-compile", "--only-binary=:all:", "--implementation=cp")


class BundleError(Exception):
    """The bundle cannot be built (bad target, pip failed); the message says why."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, help="the folder to write (must be new or empty)")
    parser.add_argument(
        "--python-version",
        help="target Python, e.g. 3.11 (default: this Python's); 3.11 is the oldest supported",
    )
    parser.add_argument(
        "--platform",
        action="append",
        help="target platform tag, e.g. manylinux2014_x86_64 (repeatable; default: this one)",
    )
    parser.add_argument(
        "--one-file",
        action="store_true",
        help="write one IGAConnector.py (a zip application) instead of the script and its "
        "hr_connector_lib/ folder",
    )
    parser.add_argument(
        "--with-prefect",
        action="store_true",
        help="also bundle Prefect (large); without it the wrapper runs without Prefect",
    )
    parser.add_argument(
        "--pip-arg",
        action="append",
        default=[],
        help="extra argument for pip, e.g. --pip-arg=--index-url=https://mirror/simple",
    )


def wrapper_source() -> Path:
    """The wrapper deployments/epe/IGAConnector.py of the source checkout (src/hr_connector's
    grandparent): it is not part of the installed package."""
    here = Path(__file__).resolve().parent
    wrapper = here.parent.parent / "deployments" / "epe" / WRAPPER_NAME
    if not wrapper.is_file():
        raise BundleError(f"cannot find {WRAPPER_NAME} next to the installed connector ({here})")
    return wrapper


def _requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return match.group(1).lower().replace("_", "-") if match else requirement


def runtime_requirements(with_prefect: bool) -> list[str]:
    """The connector's dependencies (no extras), pinned to the installed versions when known."""
    wanted: list[str] = []
    for requirement in importlib.metadata.requires(DIST) or []:
        if "extra ==" in requirement.replace('"', "").replace("'", ""):
            continue
        name = _requirement_name(requirement)
        if name == "prefect" and not with_prefect:
            continue
        try:
            wanted.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            wanted.append(requirement.split(";")[0].strip())
    return wanted


def connector_packages() -> dict[str, Path]:
    """Every package of the installed connector and its folder (sub-packages included, so a
    new one is bundled without being listed here)."""
    found: dict[str, Path] = {}
    todo = list(PACKAGE_ROOTS)
    while todo:
        package = todo.pop(0)
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise BundleError(f"the installed connector lacks the package {package}")
        found[package] = Path(next(iter(spec.submodule_search_locations)))
        todo += [
            f"{package}.{info.name}"
            for info in pkgutil.iter_modules([str(found[package])])
            if info.ispkg and f"{package}.{info.name}" not in found
        ]
    return found


def _copy_connector(lib: Path) -> int:
    copied = 0
    for package, source in connector_packages().items():
        target = lib.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for pattern in PACKAGE_FILES:
            for file in sorted(source.glob(pattern)):
                shutil.copy2(file, target / file.name)
                copied += 1
    return copied


def _pip(lib: Path, requirements: list[str], args: argparse.Namespace) -> None:
    command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", *PIP_OPTIONS]
    command += ["--target", str(lib)]
    if args.python_version:
        command += ["--python-version", args.python_version]
    for platform in args.platform or []:
        command += ["--platform", platform]
    command += [*args.pip_arg, *requirements]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-12:])
        raise BundleError(f"pip could not fetch the dependencies:\n{tail}")


def _check_target_version(version: str | None) -> None:
    if version is None:
        return
    try:
        wanted = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        raise BundleError(f"--python-version {version!r} is not like 3.11") from None
    if wanted < MIN_PYTHON:
        oldest = ".".join(map(str, MIN_PYTHON))
        raise BundleError(f"the connector needs Python {oldest} or newer, not {version}")


def _library(lib: Path, args: argparse.Namespace) -> None:
    """Fill ``lib`` with the dependencies, the connector and BUNDLE.json (what it holds)."""
    requirements = runtime_requirements(args.with_prefect)
    _pip(lib, requirements, args)
    files = _copy_connector(lib)
    shutil.rmtree(lib / "bin", ignore_errors=True)  # console scripts for the wrong Python
    meta: dict[str, object] = {
        "connector": importlib.metadata.version(DIST),
        "python_version": _target_python(args),
        "platforms": args.platform or ["this machine's"],
        "with_prefect": bool(args.with_prefect),
        "requirements": requirements,
        "connector_files": files,
    }
    (lib / "BUNDLE.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def _target_python(args: argparse.Namespace) -> str:
    return args.python_version or f"{sys.version_info.major}.{sys.version_info.minor}"


def _target_machine(args: argparse.Namespace) -> str:
    """The ``uname -m`` of the platform tags (``manylinux2014_x86_64`` -> ``x86_64``)."""
    known = ("x86_64", "aarch64", "i686", "ppc64le", "s390x", "armv7l")
    machines = {m for tag in args.platform or [] for m in known if tag.endswith(m)}
    if len(machines) > 1:
        raise BundleError(f"--platform names several machines ({', '.join(sorted(machines))})")
    return machines.pop() if machines else os.uname().machine


def content_key(lib: Path) -> str:
    """A digest of every file of ``lib`` (path and bytes): the name of its unpacked copy."""
    digest = hashlib.sha256()
    for path in sorted(p for p in lib.rglob("*") if p.is_file()):
        digest.update(path.relative_to(lib).as_posix().encode() + b"\0")
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:32]


def _main_module(key: str, args: argparse.Namespace) -> str:
    """:mod:`hr_connector.onefile_main` with this bundle's values written in."""
    source = Path(__file__).with_name("onefile_main.py").read_text(encoding="utf-8")
    values = {
        "BUNDLE_KEY": key,
        "BUNDLE_PYTHON": _target_python(args),
        "BUNDLE_MACHINE": _target_machine(args),
    }
    for name, value in values.items():
        source, count = re.subn(rf"^{name} = .*$", f"{name} = {value!r}", source, flags=re.M)
        if count != 1:
            raise BundleError(f"onefile_main.py has no single {name} line")
    return source


def _one_file(staging: Path, args: argparse.Namespace) -> None:
    """``staging/IGAConnector.py``: a zip application of ``__main__.py`` and ``lib/``."""
    app = staging / "app"
    lib = app / "lib"
    _library(lib, args)
    for cache in lib.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    key = content_key(lib)
    (app / "__main__.py").write_text(_main_module(key, args), encoding="utf-8")
    zipapp.create_archive(
        app, staging / WRAPPER_NAME, interpreter="/usr/bin/env python3", compressed=True
    )
    shutil.rmtree(app)


def _folder(staging: Path, args: argparse.Namespace) -> None:
    """``staging/IGAConnector.py`` (the wrapper) and ``staging/hr_connector_lib/``."""
    _library(staging / LIB, args)
    shutil.copy2(wrapper_source(), staging / WRAPPER_NAME)


def build(target: Path, args: argparse.Namespace) -> Path:
    """Write the bundle into ``target`` (new or empty); return the script's path."""
    _check_target_version(args.python_version)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BundleError(f"{target} exists and is not an empty folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".bundle-", dir=target.parent))
    try:
        (_one_file if args.one_file else _folder)(staging, args)
        (staging / WRAPPER_NAME).chmod(0o755)
        if target.exists():
            target.rmdir()
        os.replace(staging, target)
        target.chmod(0o755)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target / WRAPPER_NAME


def run(args: argparse.Namespace) -> int:
    try:
        script = build(args.dir.resolve(), args)
    except BundleError as exc:
        print(f"hr-connector bundle: {exc}", file=sys.stderr)
        return 1
    if args.one_file:
        size = script.stat().st_size / (1 << 20)
        print(f"Wrote {script} ({size:.0f} MB): copy this one file where the vendor's page puts")
        print("  IGAConnector.py and chmod 755 it (the worker's Python needs nothing installed;")
        print("  its first run unpacks the library to ~/.cache/hr-connector/)")
        return 0
    print(f"Wrote {script.parent}: copy the folder into the engine's only_scheduled/ and run")
    print(f"  chmod 755 {script.name}   (the worker's Python needs nothing installed)")
    return 0
