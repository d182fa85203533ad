"""The fast path: the reference steps' exact results, in a fraction of the time and memory.

Every step has simple reference code (list-of-tuples rows, per-row validation, the whole
archive parsed, one ``orjson.dumps`` per row), which the tests compare the fast path against
byte for byte. The fast path is this part:

* :mod:`.fast_csv`, :mod:`.fast_json`, :mod:`.fast_xml`: the fast readers. Each reads the
  everyday file in a few C-level passes and declines anything else
  (:class:`~hr_connector.readers.limits.Unsupported`): the reference reader in
  :mod:`hr_connector.readers` then reads the file and gives every error message.
* :mod:`.rowstore`: the compact row stores the fast readers keep the rows in.
* :mod:`.archive_index`: the archive's sidecar index, which lets a run recognise the rows that
  are byte-identical to rows the previous run imported (no checks, no comparison, their
  archive lines copied).

The switch (``HR_CONNECTOR_FAST_PATH=0`` turns the fast path off) is read once per run, by
:func:`for_run` at the start of the run, which also loads the previous run's archive index
once. The run hands the :class:`FastPath` it got to the steps that use it (parse, validate,
compare, the change list); no module below reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hr_connector.fastpath.archive_index import ArchiveIndex
    from hr_connector.workdir import WorkDir

#: Set to "0" to run the simple reference code everywhere (tests, debugging, comparisons).
FAST_PATH_ENV = "HR_CONNECTOR_FAST_PATH"


class FastPath:
    """One run's fast-path setting: whether it is on, and the previous run's archive index.

    ``index`` is the archive index of the archives the run compares with, loaded once (None:
    the switch is off, there is no completed run before, or its index is missing or stale).
    Results never depend on it: without it the steps do all the work. A plain class, not a
    dataclass: Prefect hands it between tasks without walking it.
    """

    __slots__ = ("enabled", "index")

    def __init__(self, enabled: bool, index: ArchiveIndex | None = None) -> None:
        self.enabled = enabled
        self.index = index if enabled else None

    def __repr__(self) -> str:
        return f"FastPath(enabled={self.enabled}, index={self.index is not None})"


#: The fast path without a previous run (what a reader uses outside a run).
ON = FastPath(True)
#: The reference code everywhere.
OFF = FastPath(False)


def enabled_in(environ: Mapping[str, str]) -> bool:
    """The switch's value in ``environ`` (on unless it says 0, false, no or off)."""
    return environ.get(FAST_PATH_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def for_run(base: WorkDir | None) -> FastPath:
    """The setting of one run: the switch, read once, and the index of ``base``'s archives."""
    if not enabled_in(os.environ):
        return OFF
    if base is None:
        return ON
    from hr_connector.fastpath import archive_index

    return FastPath(True, archive_index.load(base))
