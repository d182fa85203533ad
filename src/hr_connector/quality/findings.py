"""What the data-quality checks found: one frame of findings per check, and the report section.

A check's findings are a :class:`polars.DataFrame` in :data:`FINDINGS` shape, one row per
(finding, table row): a cycle is one finding over every row on it, an overlap one finding over
its two rows, a dangling reference or an invalid national ID one finding over one row.
``code``/``column``/``detail`` are the reason a ``block`` finding gives each of its rows (the
``reason_<code>`` case of translation.json), already masked where it could hold a national ID.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl
from pydantic import BaseModel, Field

#: Findings listed per check in the admin task (all of them are counted).
MAX_LISTED = 10

FINDINGS = {
    "finding": pl.UInt32,
    "row": pl.UInt32,
    "row_id": pl.String,
    "code": pl.String,
    "column": pl.String,
    "detail": pl.String,
}
#: The reasons frame (the blocked rows' reasons, one row per reason, in the order found).
REASONS = {"row": pl.UInt32, "code": pl.String, "column": pl.String, "detail": pl.String}


def no_findings() -> pl.DataFrame:
    return pl.DataFrame(schema=FINDINGS)


@dataclass
class CheckRun:
    """One check's outcome in one run."""

    check: str
    severity: str
    findings: pl.DataFrame = field(default_factory=no_findings, repr=False)
    #: a file-level finding (``warn``): its report case and figures
    file_findings: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    #: why the check did not (fully) run (a translation case, and its figures), if it did not
    skipped: str | None = None
    skipped_figures: dict[str, str] = field(default_factory=dict)
    #: the file's SHA-256, when the check computed it (kept for the next run)
    sha256: str | None = None

    @property
    def count(self) -> int:
        return self.findings["finding"].n_unique() + len(self.file_findings)

    def listed(self, limit: int = MAX_LISTED) -> list[pl.DataFrame]:
        """The first ``limit`` findings, each as its rows (row, row_id, code, column, detail)."""
        numbers = self.findings["finding"].unique(maintain_order=True)[:limit]
        first = self.findings.filter(pl.col("finding").is_in(numbers.implode()))
        return list(first.partition_by("finding", maintain_order=True))


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
