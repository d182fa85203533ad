"""Limits per kind of change: a count (``100``) or a percentage of the archived rows (``"5%"``).

``update_limit`` (the vendor's) bounds new + changed rows; ``new_limit``, ``changed_limit`` and
``removed_limit`` bound one kind each and are off unless set. A percentage is taken of the rows
the previous completed run imported that this run was compared with (unchanged + changed +
removed), rounded down: ``"10%"`` of 20 archived rows allows 2. ``override_update_limit`` and an
``approved_changeset`` that matches cover every limit.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator

from hr_connector import advice
from hr_connector.errors import RunInterrupted

_PERCENT = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*%\s*$")
_COUNT = re.compile(r"^\s*\d+\s*$")


def _limit_value(value: Any) -> int | str:
    """A count as ``int``, a percentage as its canonical text (``"5%"``, ``"0.5%"``)."""
    if isinstance(value, bool):
        raise ValueError("must be a count (100) or a percentage ('5%')")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must not be negative")
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str):
        if _COUNT.match(value):
            return int(value)
        match = _PERCENT.match(value)
        if match:
            number = float(match.group(1).replace(",", "."))
            if number > 100:
                raise ValueError("a percentage must be at most 100%")
            return f"{number:g}%"
    raise ValueError("must be a count (100) or a percentage of the archived rows ('5%')")


def _optional_limit(value: Any) -> int | str | None:
    """``null`` means: no such limit (so does a blank form field: parse_params drops it)."""
    return None if value is None else _limit_value(value)


#: The type of ``update_limit``: a count or a percentage.
LimitValue = Annotated[int | str, BeforeValidator(_limit_value)]
#: The type of the optional per-kind limits.
OptionalLimit = Annotated[int | str | None, BeforeValidator(_optional_limit)]

#: The limits in the order they are checked, with the kind of change each one bounds.
LIMIT_KINDS: tuple[tuple[str, str], ...] = (
    ("update_limit", "updates"),
    ("new_limit", "new"),
    ("changed_limit", "changed"),
    ("removed_limit", "removed"),
)


def allowed(limit: int | str, archived: int) -> int:
    """How many changes a limit allows against ``archived`` rows."""
    if isinstance(limit, int):
        return limit
    percent = float(limit.rstrip("%"))
    return math.floor(percent * archived / 100 + 1e-9)


class LimitCheck(BaseModel):
    """One limit applied to one run."""

    name: str  # update_limit | new_limit | changed_limit | removed_limit
    kind: str  # updates | new | changed | removed
    limit: int | str  # as given: 100 or "5%"
    allowed: int
    count: int

    @property
    def exceeded(self) -> bool:
        return self.count > self.allowed

    @property
    def shown(self) -> str:
        """``100`` or ``5% = 3``: the limit as the admin set it, and what it came to."""
        if isinstance(self.limit, int):
            return str(self.limit)
        return f"{self.limit} = {self.allowed}"

    @property
    def figures(self) -> str:
        """``removed rows: 3 (removed_limit 5% = 2)``: what a person needs to judge the stop."""
        return f"{WHAT[self.kind]}: {self.count} ({self.name} {self.shown})"


#: The kind of change each limit bounds, as the English messages name it.
WHAT: dict[str, str] = {
    "updates": "updates",
    "new": "new rows",
    "changed": "changed rows",
    "removed": "removed rows",
}


def check_limits(params: Any, counts: dict[str, int], archived: int) -> list[LimitCheck]:
    """Every limit that is set, with its figure; ``counts`` has updates, new, changed, removed."""
    return [
        LimitCheck(name=n, kind=k, limit=v, allowed=allowed(v, archived), count=counts[k])
        for n, k in LIMIT_KINDS
        if (v := getattr(params, n, None)) is not None
    ]


class ChangeLimitExceeded(RunInterrupted):
    """``new_limit``, ``changed_limit`` or ``removed_limit`` stopped the run.

    The report case is ``<kind>_limit_exceeded``; the other limits exceeded are added by the guard
    (:func:`hr_connector.guards.check_guards`), with their figures.
    """

    def __init__(self, check: LimitCheck, archived: int, changeset: str):
        self.case = f"{check.kind}_limit_exceeded"
        super().__init__(
            f"The run would import {check.count} {WHAT[check.kind]}, more than "
            f"{check.name} {check.shown} (of {archived} archived rows).",
            hint=advice.approve_hint(changeset),
            figures={
                "limit_name": check.name,
                "limit": check.shown,
                "count": check.count,
                "archived": archived,
                "changeset": changeset,
            },
        )
