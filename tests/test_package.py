"""hr_connector is a regular package with a version."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import hr_connector


def test_package_has_a_file_and_the_installed_version() -> None:
    assert hr_connector.__file__ is not None
    assert Path(hr_connector.__file__).name == "__init__.py"
    assert hr_connector.__version__ == version("hr-connector")
