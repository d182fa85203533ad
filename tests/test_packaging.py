"""The wheel carries every package of the connector: pyproject lists packages explicitly (it maps
flows/, tasks/ and translations/ under hr_connector), so a new sub-package must be listed too."""

from __future__ import annotations

import tomllib

from conftest import REPO


def test_every_connector_package_is_in_the_wheel() -> None:
    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    on_disk = {
        ".".join(init.parent.relative_to(REPO / "src").parts)
        for init in (REPO / "src" / "hr_connector").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert on_disk <= listed, f"add to [tool.setuptools] packages: {sorted(on_disk - listed)}"
