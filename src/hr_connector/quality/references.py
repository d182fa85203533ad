"""References across data types: every ID a row points at must exist where it should.

A work period's ``org_unit_id``, ``title_id`` and ``cost_center`` must be in the last completed
import of that data type; ``manager_id`` (work period, organization) and ``owner_id`` (cost
center) must be a person's unique ID in the last work-period import or in the same file; an
organization's ``parent_org_unit_id`` must be an org unit of the same file. Column passes only
(set differences, ``compress``): a million rows cost a few set look-ups each.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from itertools import compress, count

from hr_connector.masking import mask_value
from hr_connector.records import Reason, Value

#: canonical column -> the data type whose import it points at ("person": a work-period person)
TARGETS: dict[str, dict[str, str]] = {
    "workperiod": {
        "org_unit_id": "organization",
        "title_id": "title",
        "cost_center": "costcenter",
        "manager_id": "person",
    },
    "organization": {
        "parent_org_unit_id": "same_file",
        "manager_id": "person",
        "cost_center": "costcenter",
    },
    "costcenter": {"owner_id": "person"},
    "title": {},
}

#: The reason code of a dangling reference, by what it points at.
REASON_CODES = {"person": "unknown_person", "same_file": "unknown_parent"}
DEFAULT_REASON = "unknown_reference"


def unknown_values(values: Iterable[Value], known: Collection[Value]) -> set[str]:
    """The distinct non-blank values that ``known`` lacks."""
    missing = set(values).difference(known)
    return {v for v in missing if v and not v.isspace()}


def dangling(
    values: Sequence[Value], known: Collection[Value], column: str, target: str
) -> list[tuple[int, Reason]]:
    """(row, reason) for every row whose value in ``values`` is not in ``known``."""
    return rows_with(values, unknown_values(values, known), column, target)


def rows_with(
    values: Sequence[Value], missing: set[str], column: str, target: str, masked: bool = False
) -> list[tuple[int, Reason]]:
    """(row, reason) for every row whose value is one of ``missing`` (``masked``: the values
    are national IDs, shown masked)."""
    if not missing:
        return []
    rows = compress(count(), map(missing.__contains__, values))
    return reasons(rows, values.__getitem__, column, target, masked)


def reasons(
    rows: Iterable[int],
    value_of: Callable[[int], Value],
    column: str,
    target: str,
    masked: bool = False,
) -> list[tuple[int, Reason]]:
    """(row, reason) for each of ``rows`` (``value_of(row)``: its value)."""
    code = REASON_CODES.get(target, DEFAULT_REASON)
    show = mask_value if masked else str
    return [(i, Reason(code, column=column, detail=show(value_of(i) or ""))) for i in rows]
