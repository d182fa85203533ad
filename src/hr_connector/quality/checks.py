"""The row-level data-quality checks, each declared once, and their run over one table.

A check is its name (the ``checks`` key), the reason codes it gives (``reason_<code>`` cases of
translation.json), the data types it applies to, the canonical columns it reads and the function
that finds it: column operations on the table's frame (every column ``pl.String``, null = no such
field) giving ``(row, code, column, detail)`` and, when one finding spans several rows, its
``finding`` number. Every check runs on every row of every file; a finding all of whose rows
validation blocked is dropped; a ``block`` finding's reasons come back as a reasons frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from hr_connector.quality import cycles, national_ids, overlaps, references
from hr_connector.quality.findings import FINDINGS, REASONS, CheckRun
from hr_connector.quality.settings import ROW_CHECKS as DEFAULTS
from hr_connector.quality.settings import CheckContext
from hr_connector.records import Table
from hr_connector.schemas import SCHEMAS

Find = Callable[[pl.DataFrame, CheckContext, CheckRun], pl.DataFrame | None]


@dataclass(frozen=True)
class RowCheck:
    name: str
    codes: tuple[str, ...]
    reads: Callable[[CheckContext], list[str]]
    find: Find
    applies: Callable[[CheckContext], bool] = lambda ctx: True


ROW_CHECKS: tuple[RowCheck, ...] = (
    RowCheck("references", references.CODES, references.reads, references.find),
    RowCheck("cycles", cycles.CODES, cycles.reads, cycles.find),
    RowCheck("overlaps", overlaps.CODES, overlaps.reads, overlaps.find),
    RowCheck(
        "national_ids",
        national_ids.CODES,
        national_ids.reads,
        national_ids.find,
        national_ids.applies,
    ),
)
assert [c.name for c in ROW_CHECKS] == list(DEFAULTS)


@dataclass
class QualityOutcome:
    """The checks' findings and the reasons their ``block`` findings give rows."""

    runs: list[CheckRun] = field(default_factory=list)
    blocked: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=REASONS))

    def __repr__(self) -> str:  # never values: they may hold national IDs
        return f"QualityOutcome({', '.join(f'{r.check}={r.count}' for r in self.runs)})"


def due(ctx: CheckContext) -> list[RowCheck]:
    """The checks this run makes: on, for its data type, with what they need."""
    return [
        check
        for check in ROW_CHECKS
        if ctx.settings.on(check.name)
        and check.name in SCHEMAS[ctx.schema.data_type].checks
        and check.applies(ctx)
    ]


def check_rows(table: Table, blocked: pl.DataFrame, ctx: CheckContext) -> QualityOutcome:
    """Every due check over every row; findings on rows validation blocked only are dropped."""
    checks = due(ctx)
    key = ctx.schema.key_column
    wanted = dict.fromkeys([key, *(ctx.name(c) for ch in checks for c in ch.reads(ctx))])
    frame = table.frame.select(c for c in wanted if c in table.columns)
    row_ids = frame[key] if key in frame.columns else pl.repeat("", frame.height, eager=True)
    done = blocked["row"].unique()
    outcome = QualityOutcome()
    for check in checks:
        run = CheckRun(check.name, ctx.settings.level(check.name))
        found = check.find(frame, ctx, run)
        if found is None:
            continue
        run.findings = shaped(found, row_ids, done)
        outcome.runs.append(run)
    blocking = [r.findings.select(list(REASONS)) for r in outcome.runs if r.severity == "block"]
    if blocking:
        outcome.blocked = pl.concat(blocking)
    return outcome


def shaped(found: pl.DataFrame, row_ids: pl.Series, blocked: pl.Series) -> pl.DataFrame:
    """``found`` in :data:`~.findings.FINDINGS` shape, without the findings all of whose rows
    are ``blocked``."""
    if found.is_empty():
        return pl.DataFrame(schema=FINDINGS)
    if "finding" not in found.columns:
        found = found.with_columns(finding=pl.int_range(pl.len(), dtype=pl.UInt32))
    found = found.with_columns(
        pl.col("row").cast(pl.UInt32), row_id=row_ids.gather(found["row"]).fill_null("")
    )
    if not blocked.is_empty():
        kept = found.filter(~pl.col("row").is_in(blocked.implode()))["finding"]
        found = found.filter(pl.col("finding").is_in(kept.implode()))
    return found.select(pl.col(name).cast(kind) for name, kind in FINDINGS.items())
