"""What the data-quality checks found: findings, and the report section they become."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from hr_connector.records import Reason

#: Findings listed per check in the admin task (all of them are counted).
MAX_LISTED = 10


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: the rows it is about (indices into the table) and its reason.

    ``reason`` is what a blocked row carries (``Reason.code`` is a ``reason_<code>`` case of
    translation.json); ``subject`` names the finding for a person (row ID, a cycle's members),
    already masked where it could hold a national ID.
    """

    check: str
    rows: tuple[int, ...]
    reason: Reason
    subject: str = ""


@dataclass
class CheckRun:
    """One check's outcome in one run."""

    check: str
    severity: str
    findings: list[Finding] = field(default_factory=list)
    #: why the check did not run (a translation case, and its figures), if it did not
    skipped: str | None = None
    skipped_figures: dict[str, str] = field(default_factory=dict)
    #: the file's SHA-256, when the check computed it (kept for the next run)
    sha256: str | None = None
    #: the persons' unique IDs of every row, when the check read them (kept for the next runs)
    persons: Any = field(default=None, repr=False)
    #: what the check keeps for the next run (``state``, JSON form)
    kept: dict[str, Any] | None = field(default=None, repr=False)


class QualityLine(BaseModel):
    """One listed finding in the admin task."""

    position: str = ""
    row_id: str = ""
    message: str


class QualityCheck(BaseModel):
    """One check in the admin task's "Data quality" section and the summary artifact."""

    check: str
    severity: str
    count: int = 0
    rows: int = 0
    skipped: str | None = None
    skipped_figures: dict[str, str] = Field(default_factory=dict)
    first: list[QualityLine] = Field(default_factory=list)


class QualityReport(BaseModel):
    """The "Data quality" section: one entry per check that ran, found something or was skipped."""

    checks: list[QualityCheck] = Field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {c.check: c.count for c in self.checks if c.skipped is None or c.count}

    @property
    def empty(self) -> bool:
        return not self.checks
