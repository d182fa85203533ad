"""hr-connector: imports HR files (CSV, JSON, flat XML) into an IGA system, refusing dangerous
imports, and reports each run as an admin task."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__: str = version("hr-connector")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
