"""National-ID verdicts carried over from the last completed run, for unchanged rows only.

A national ID's verdict depends on the value and the country alone (a birth date in the future
only becomes less so). A row that is byte-identical to a row the last completed run imported
(the archive index's match, :mod:`hr_connector.fastpath.archive_index`) has the same value, so
when that run checked national IDs for the same country and column, its verdict stands: the rows it
flagged are checked again, the others are valid. Every other row is checked with
python-stdnum. Only this check is carried over: references, cycles and overlaps depend on
other rows and other files, and run on every row every time.

The last run's verdicts are kept in ``.<data_type>_quality.json`` with the identity of the
archives they describe; any other archive (a later commit, a restored file) is not trusted.
"""

from __future__ import annotations

from itertools import compress, count
from typing import Any

import orjson

from hr_connector.fastpath import archive_index
from hr_connector.records import Table
from hr_connector.workdir import WorkDir


def archives_now(workdir: WorkDir) -> Any:
    """The identity of the working directory's archives now (JSON form)."""
    return orjson.loads(orjson.dumps(archive_index.archives_identity(workdir)))


def rows_to_check(
    table: Table, state: dict[str, Any], country: str, column: str
) -> list[int] | None:
    """The rows whose national ID must be validated, or None: all of them."""
    match = table.previous
    kept = state.get("national_ids")
    if table.digests is None or match is None or not kept:  # not a fast table, or no match
        return None
    if kept.get("country") != country or kept.get("column") != column:
        return None
    if kept.get("archives") != orjson.loads(orjson.dumps(match.archives)):
        return None
    again = set(match.misses())
    flagged = set(kept.get("flagged_row_ids") or ())
    if flagged:
        ids = match.index.ids()
        lines = set(compress(count(), map(flagged.__contains__, ids)))
        again.update(compress(count(), map(lines.__contains__, match.hits)))
    return sorted(again)


def verdicts(
    workdir: WorkDir, country: str, column: str, flagged_row_ids: list[str]
) -> dict[str, Any]:
    """What to keep after a completed run (its archives are committed)."""
    return {
        "country": country,
        "column": column,
        "flagged_row_ids": sorted(set(flagged_row_ids)),
        "archives": archives_now(workdir),
    }
