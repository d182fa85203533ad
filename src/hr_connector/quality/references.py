"""References across data types: every ID a row points at must exist where it should.

A work period's ``org_unit_id``, ``title_id`` and ``cost_center`` must be in the last completed
import of that data type; ``manager_id`` (work period, organization) and ``owner_id`` (cost
center) must be a person's unique ID in the same file or in the last work-period import; an
organization's ``parent_org_unit_id`` must be an org unit of the same file. Each column is one
anti-join against the known IDs; only the few values it leaves are looked at again.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from hr_connector.masking import mask_value
from hr_connector.quality import kept
from hr_connector.quality.findings import CheckRun, no_findings
from hr_connector.quality.settings import CheckContext
from hr_connector.schemas import PERSON, PERSONS, SAME_FILE, SCHEMAS

log = logging.getLogger("hr_connector.quality")

#: The reason code of a dangling reference, by what it points at.
REASON_CODES = {PERSON: "unknown_person", SAME_FILE: "unknown_parent"}
DEFAULT_REASON = "unknown_reference"
CODES = (DEFAULT_REASON, *REASON_CODES.values())


def reads(ctx: CheckContext) -> list[str]:
    return [
        *SCHEMAS[ctx.schema.data_type].references,
        ctx.unique_id,
        SCHEMAS[ctx.schema.data_type].key,
    ]


def _without(rows: pl.DataFrame, known: pl.Series) -> pl.DataFrame:
    """``rows`` (row, value) whose value is not one of ``known``: an anti-join."""
    known_values = pl.DataFrame({"value": known}).unique()
    return rows.join(known_values, on="value", how="anti", maintain_order="left")


def dangling(values: pl.Series, known: pl.Series) -> pl.DataFrame:
    """(row, value) of every row whose value is not blank and not one of ``known``."""
    rows = _without(pl.DataFrame({"value": values}).with_row_index("row"), known)
    return rows.filter(pl.col("value").str.strip_chars() != "")


def find(frame: pl.DataFrame, ctx: CheckContext, run: CheckRun) -> pl.DataFrame:
    """(row, code, column, detail): one finding per dangling value, by row, then column."""
    data_type = ctx.schema.data_type
    parts: list[pl.DataFrame] = []
    for order, (canonical, target) in enumerate(SCHEMAS[data_type].references.items()):
        column = ctx.name(canonical)
        if column not in frame.columns:
            continue
        if target == SAME_FILE:
            found = dangling(frame[column], frame[ctx.schema.key_column])
        elif target == PERSON:
            found = _unknown_persons(frame, ctx, run, column)
        else:
            key = str(kept.read(ctx.reference_dir, target).get("key_column") or SCHEMAS[target].key)
            ids = ctx.imported(ctx.reference_dir, target, key)
            if ids is None:
                _skip(run, column, target, ctx)
                continue
            found = dangling(frame[column], ids)
        masked = target == PERSON and ctx.masked
        detail = pl.col("value").map_elements(mask_value, pl.String) if masked else pl.col("value")
        parts.append(
            found.select(
                "row",
                order=pl.lit(order),
                code=pl.lit(REASON_CODES.get(target, DEFAULT_REASON)),
                column=pl.lit(column),
                detail=detail,
            )
        )
    if not parts:
        return no_findings()
    return pl.concat(parts).sort("row", "order", maintain_order=True).drop("order")


def _unknown_persons(
    frame: pl.DataFrame, ctx: CheckContext, run: CheckRun, column: str
) -> pl.DataFrame:
    """Rows whose ``column`` is the unique ID of no person of this file (a work period) nor
    of the last work-period import (read only when the file itself leaves values unknown)."""
    work_period = SCHEMAS[ctx.schema.data_type].persons
    own = frame[ctx.person] if work_period and ctx.person in frame.columns else None
    found = dangling(frame[column], pl.Series([], dtype=pl.String) if own is None else own)
    if found.is_empty():
        return found
    folder = ctx.archive_dir if work_period else ctx.reference_dir
    person = kept.read(folder, PERSONS).get("person_column") or ctx.unique_id
    persons = ctx.imported(folder, PERSONS, str(person))
    if persons is None:
        if not work_period:
            _skip(run, column, PERSONS, ctx)
            return found.clear()
        return found
    return _without(found, persons)


def _skip(run: CheckRun, column: str, target: str, ctx: CheckContext) -> None:
    """A reference type never imported: the column is not checked, and the report says so."""
    folder = ctx.shown(ctx.reference_dir)
    log.warning("Data quality: '%s' not checked: no %s import in %s yet", column, target, folder)
    if run.skipped is None:
        run.skipped = "quality_not_imported"
        run.skipped_figures = {"columns": column, "data_types": target, "folder": folder}
    else:
        run.skipped_figures["columns"] += f", {column}"
        run.skipped_figures["data_types"] += f", {target}"


def folder(settings_dir: str | None, root: Path, archive_dir: Path) -> Path:
    """``reference_archives_dir`` (absolute, or relative to the working directory), else the
    working directory's archive folder."""
    if not settings_dir:
        return archive_dir
    path = Path(settings_dir).expanduser()
    return path if path.is_absolute() else root / path
