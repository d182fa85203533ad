"""The static checks CI runs with the tests: ``ruff check`` and mypy on the product code.

mypy (configured in pyproject.toml) checks the package as it is installed: flows/ and tasks/ are
``hr_connector.flows`` and ``hr_connector.tasks`` (pyproject's package-dir), so they are linked
into a copy of the package's layout, where every import between them resolves; deployments/
holds the EPE script.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAPPED = ("flows", "tasks", "translations")

pytestmark = pytest.mark.timeout(600)


def _tool(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", name, *args], cwd=cwd, capture_output=True, text=True, timeout=540
    )


def installed_layout(root: Path) -> Path:
    """``root/hr_connector``: links to src/hr_connector's entries and the mapped packages."""
    package = root / "hr_connector"
    shutil.rmtree(package, ignore_errors=True)
    package.mkdir(parents=True)
    for entry in (REPO / "src" / "hr_connector").iterdir():
        if entry.name not in MAPPED and entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for name in MAPPED:
        (package / name).symlink_to(REPO / name)
    return package


def test_ruff_check_is_clean() -> None:
    proc = _tool("ruff", "check", "--no-cache", ".", cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_is_clean_on_the_product_code() -> None:
    cache = REPO / ".mypy_cache"  # the layout at a fixed place: the next run reuses the cache
    layout = installed_layout(cache / "layout").parent
    proc = _tool(
        "mypy",
        "--config-file",
        str(REPO / "pyproject.toml"),
        "--cache-dir",
        str(cache),
        "hr_connector",
        str(REPO / "deployments"),
        cwd=layout,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # every product module was read, flows/ and tasks/ included
    product = [p for d in ("src", *MAPPED, "deployments") for p in (REPO / d).rglob("*.py")]
    assert f"in {len(product)} source files" in proc.stdout, proc.stdout
