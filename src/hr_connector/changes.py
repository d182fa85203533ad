"""The changes of a partial run, row by row: what the admin reviews before approving a stop.

:func:`list_changes` turns a :class:`~hr_connector.compare.Changeset` into frames: the new rows
(row ID, position, identifying columns), one line per changed column of each changed row (old and
new value) and the removed rows (identifying columns from the previous run), each in row-ID order.
:func:`write_changes_csv` writes them, with every reason of every blocked row, to
``<taskid>_changes.csv`` (UTF-8 with BOM, ``;``, a header, CRLF: opens in a spreadsheet; a cell
that a spreadsheet would run as a formula starts with ``'``, as OWASP advises);
:meth:`RunChanges.listed` turns the first ``report_max_rows`` of each kind into the admin task's
Python values. National IDs are masked (all but the last two characters) everywhere they appear.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import polars as pl

from hr_connector.compare import _OLD, _ROW, Changeset
from hr_connector.outcome import ChangeList, ColumnChange, RowChange
from hr_connector.previous_run import PreviousRun
from hr_connector.records import Table, taken
from hr_connector.schemas import SCHEMAS, RunSchema
from hr_connector.workdir import WorkDir, remove, write_atomic

log = logging.getLogger("hr_connector.changes")

#: The columns of ``<taskid>_changes.csv``, in order (README: "The changes attachment").
CSV_COLUMNS = (
    "change",
    "row_id",
    "position",
    "identity",
    "column",
    "old_value",
    "new_value",
    "reason",
)
KINDS = ("new", "changed", "removed")
_POS = "\x00position"
#: The identifying values of a row, in the order of :attr:`RunChanges.identity_columns`.
VALUES = pl.List(pl.String)
#: What a spreadsheet reads as the start of a formula (OWASP, CSV injection).
FORMULA_START = r"^[=+\-@\t\r]"


def mask(value: str) -> str:
    """A national ID as the admin task shows it: all but the last two characters hidden."""
    return "*" * max(len(value) - 2, 0) + value[-2:]


def masked(value: pl.Expr) -> pl.Expr:
    """:func:`mask` as an expression."""
    hidden = value.str.head((value.str.len_chars().cast(pl.Int64) - 2).clip(lower_bound=0))
    return pl.concat_str(hidden.str.replace_all(r"(?s).", "*"), value.str.slice(-2))


def _empty_long() -> pl.DataFrame:
    return pl.DataFrame(schema={k: pl.String for k in CSV_COLUMNS})


@dataclass
class RunChanges:
    """The complete lists of one partial run's changes, as frames of the CSV's columns, with
    the identifying values of each row (``identity_values``: a list, one per identifying column)."""

    new: pl.DataFrame = field(default_factory=_empty_long)
    changed: pl.DataFrame = field(default_factory=_empty_long)
    removed: pl.DataFrame = field(default_factory=_empty_long)
    identity_columns: tuple[str, ...] = ()

    def totals(self) -> tuple[int, int, int]:
        changed = self.changed.get_column("row_id").n_unique() if self.changed.height else 0
        return self.new.height, changed, self.removed.height

    def listed(self, max_rows: int) -> ChangeList:
        new, changed, removed = self.totals()
        return ChangeList(
            new=_row_changes(self.new.head(max_rows), self.identity_columns),
            changed=_row_changes(_first_rows(self.changed, max_rows), self.identity_columns),
            removed=_row_changes(self.removed.head(max_rows), self.identity_columns),
            new_total=new,
            changed_total=changed,
            removed_total=removed,
        )


def _first_rows(lines: pl.DataFrame, rows: int) -> pl.DataFrame:
    """The lines of the first ``rows`` row IDs."""
    ids = lines.get_column("row_id").unique(maintain_order=True).head(rows)
    return lines.filter(pl.col("row_id").is_in(ids.implode()))


def _row_changes(lines: pl.DataFrame, identity_columns: tuple[str, ...]) -> list[RowChange]:
    """The admin task's values of a few rows (lines of one row ID make one RowChange)."""
    out: list[RowChange] = []
    for line in lines.iter_rows(named=True):
        if out and out[-1].row_id == line["row_id"] and line["column"]:
            out[-1].columns.append(
                ColumnChange(column=line["column"], old=line["old_value"], new=line["new_value"])
            )
            continue
        values = line["identity_values"] or []
        identity = {c: v for c, v in zip(identity_columns, values, strict=False) if v}
        columns = []
        if line["column"]:
            columns = [
                ColumnChange(column=line["column"], old=line["old_value"], new=line["new_value"])
            ]
        out.append(
            RowChange(
                row_id=line["row_id"],
                position=line["position"] or "",
                identity=identity,
                columns=columns,
            )
        )
    return out


def changes_csv_path(workdir: WorkDir) -> Path:
    return workdir.changes_csv


def identity_columns(schema: RunSchema, unique_id: str) -> list[str]:
    """The file columns that identify a row of this data type, the person ID first."""
    declared = SCHEMAS[schema.data_type]
    canonical = [*([unique_id] if declared.persons else []), *declared.described_by]
    return [schema.columns[c] for c in canonical if c in schema.columns]


def masked_columns(schema: RunSchema) -> set[str]:
    return {schema.columns["national_id"]} if "national_id" in schema.columns else set()


class _Shown:
    """How a value of a column is shown: its text, a national ID masked."""

    def __init__(self, schema: RunSchema) -> None:
        self.secret = masked_columns(schema)

    def __call__(self, column: str, value: pl.Expr) -> pl.Expr:
        value = value.fill_null("")
        return masked(value) if column in self.secret else value


def _identity(
    columns: list[str], value_of: Callable[[str], pl.Expr], shown: _Shown
) -> list[pl.Expr]:
    """The identity text (``c=v, c=v``) of the non-empty identifying values, and the values."""
    values = [shown(c, value_of(c)) for c in columns]
    text = (
        pl.concat_str(
            [
                pl.when(v != "").then(pl.lit(f"{c}=") + v)
                for c, v in zip(columns, values, strict=True)
            ],
            separator=", ",
            ignore_nulls=True,
        )
        if columns
        else pl.lit("")
    )
    listed = pl.concat_list(values) if columns else pl.lit(None, VALUES)
    return [text.fill_null("").alias("identity"), listed.alias("identity_values")]


def list_changes(
    table: Table,
    changeset: Changeset,
    schema: RunSchema,
    previous: PreviousRun,
    unique_id: str = "employee_number",
) -> RunChanges:
    """Every new, changed and removed row of a partial run, in row-ID order."""
    if changeset.run_type != "partial":
        return RunChanges()
    key = schema.key_column
    ident = identity_columns(schema, unique_id)
    shown = _Shown(schema)
    frame = table.frame.with_row_index(_ROW).with_columns(table.position_texts().alias(_POS))

    def now(c: str) -> pl.Expr:
        return pl.col(c) if c in table.columns else pl.lit(None, pl.String)

    new = taken(frame, changeset.new).select(
        pl.lit("new").alias("change"),
        pl.col(key).alias("row_id"),
        pl.col(_POS).alias("position"),
        *_identity(ident, now, shown),
    )
    changed = _changed_lines(frame, changeset, schema, previous, ident, shown)
    gone = _previous_rows(previous, changeset.removed)

    def before(c: str) -> pl.Expr:
        return pl.col(c) if c in previous.columns else pl.lit(None, pl.String)

    removed = gone.select(
        pl.lit("removed").alias("change"),
        pl.col(previous.key).alias("row_id"),
        pl.lit("").alias("position"),
        *_identity(ident, before, shown),
    )
    return RunChanges(
        new=_lines(new.sort("row_id")),
        changed=changed,
        removed=_lines(removed.sort("row_id")),
        identity_columns=tuple(ident),
    )


def _previous_rows(previous: PreviousRun, ids: pl.Series) -> pl.DataFrame:
    """The previous run's rows with these row IDs. A filter, not a join: the sidecar's reader
    takes it while reading and decodes the other columns of the matching rows only."""
    wanted = pl.col(previous.key).is_in(ids.implode())
    return previous.rows.lazy().filter(wanted).collect(engine="streaming")


def _lines(frame: pl.DataFrame) -> pl.DataFrame:
    """A kind's frame with every CSV column (the missing ones empty) and the identifying values."""
    missing = [pl.lit("").alias(c) for c in CSV_COLUMNS if c not in frame.columns]
    if "identity_values" not in frame.columns:
        missing.append(pl.lit(None, VALUES).alias("identity_values"))
    return frame.with_columns(missing).select(*CSV_COLUMNS, "identity_values")


def _changed_lines(
    frame: pl.DataFrame,
    changeset: Changeset,
    schema: RunSchema,
    previous: PreviousRun,
    ident: list[str],
    shown: _Shown,
) -> pl.DataFrame:
    """One line per changed column of each changed row: the file's columns first, then those
    only the archive has (sorted); ``change_columns`` when set.

    The changed rows and their previous values are lined up by row ID (a changed row's ID is in
    the previous run once); each row's identity is built once, and each column gives only the
    (row, old, new) of the rows where it changed, so a run with many changed rows holds its
    lines, not a copy per column.
    """
    key, table_columns = schema.key_column, [c for c in frame.columns if c not in (_ROW, _POS)]
    if schema.change_columns is not None:
        columns = list(schema.change_columns)
    else:
        columns = table_columns + sorted(set(previous.columns) - set(table_columns))
    # a changed row's ID is in the previous run once: both sides ordered by it line up
    ids = frame.get_column(key).gather(changeset.changed)
    rows = taken(frame, changeset.changed.gather(ids.arg_sort()))
    before = _previous_rows(previous, ids).sort(previous.key)
    if before.height != rows.height:  # compare matched each changed row with one previous row
        raise RuntimeError("the changed rows do not match the previous run's rows one to one")
    joined = pl.concat(
        [rows, before.select(pl.all().name.suffix(_OLD))], how="horizontal"
    ).with_row_index("\x00at")
    del rows, before

    def new(c: str) -> pl.Expr:
        return pl.col(c) if c in table_columns else pl.lit(None, pl.String)

    def old(c: str) -> pl.Expr:
        if c == key:  # joined on: the same on both sides
            return new(c)
        return pl.col(c + _OLD) if c in previous.columns else pl.lit(None, pl.String)

    def identity_value(c: str) -> pl.Expr:  # the file's value where it has one, else the archive's
        return pl.when(new(c).fill_null("") != "").then(new(c)).otherwise(old(c))

    if not columns:
        return _lines(pl.DataFrame(schema={"row_id": pl.String}))
    parts = [
        joined.lazy()
        .filter(new(c).fill_null("") != old(c).fill_null(""))
        .select(
            "\x00at",
            pl.lit(order, pl.UInt32).alias("\x00order"),
            pl.lit(c).alias("column"),
            shown(c, old(c)).alias("old_value"),
            shown(c, new(c)).alias("new_value"),
        )
        for order, c in enumerate(columns)
    ]
    lines = pl.concat(parts).collect().sort("\x00at", "\x00order")
    identities = joined.select(
        pl.col(key).alias("row_id"),
        pl.col(_POS).alias("position"),
        *_identity(ident, identity_value, shown),
    )
    del joined
    at = lines.get_column("\x00at")
    return identities.select(pl.all().gather(at)).select(
        pl.lit("changed").alias("change"),
        "row_id",
        "position",
        "identity",
        lines.get_column("column"),
        lines.get_column("old_value"),
        lines.get_column("new_value"),
        pl.lit("").alias("reason"),
        "identity_values",
    )


def describe(row: RowChange) -> str:
    """What the admin task (and the log) says about a row: each changed column as
    ``column: old → new`` (``–`` for empty), else the identifying columns."""
    if row.columns:
        return "; ".join(f"{c.column}: {c.old or '–'} → {c.new or '–'}" for c in row.columns)
    return ", ".join(f"{c} {v}" for c, v in row.identity.items()) or "–"


def neutralised(value: pl.Expr) -> pl.Expr:
    """A cell a spreadsheet would read as a formula, with a leading ``'`` (OWASP)."""
    return pl.when(value.str.contains(FORMULA_START)).then(pl.lit("'") + value).otherwise(value)


def write_changes_csv(workdir: WorkDir, changes: RunChanges, blocked: pl.DataFrame) -> Path:
    """Write ``<taskid>_changes.csv`` atomically: UTF-8 with BOM, ``;``, header, CRLF lines.

    ``blocked``: the blocked rows' lines (:func:`blocked_lines`), one per reason.
    """
    lines = pl.concat(
        [
            changes.new,
            changes.changed,
            changes.removed,
            blocked.select(*CSV_COLUMNS, "identity_values"),
        ]
    ).select(pl.col(c).replace("", None) for c in CSV_COLUMNS)
    lines = lines.select(neutralised(pl.col(c)).alias(c) for c in CSV_COLUMNS)
    path = changes_csv_path(workdir)

    def write(fh: IO[bytes]) -> None:
        fh.write(b"\xef\xbb\xbf")
        lines.write_csv(fh, separator=";", line_terminator="\r\n", quote_style="necessary")

    write_atomic(path, write)
    return path


def blocked_lines(
    table: Table, reasons: pl.DataFrame, key_column: str, message: pl.Expr
) -> pl.DataFrame:
    """The changes file's lines of the blocked rows (one per reason, in row-ID order);
    ``message``: the reason's text, an expression over the reasons frame."""
    if not reasons.height or table.frame.width == 0:
        return _lines(pl.DataFrame(schema={"row_id": pl.String}))
    ids = table.frame.select(
        (pl.col(key_column) if key_column in table.columns else pl.lit(""))
        .fill_null("")
        .alias("row_id"),
        table.position_texts().alias("position"),
    ).with_row_index("row")
    found = reasons.with_columns(message.alias("reason")).join(
        ids, on="row", how="left", maintain_order="left"
    )
    return _lines(
        found.select(pl.lit("blocked").alias("change"), "row_id", "position", "column", "reason")
        .with_columns(pl.lit(None, VALUES).alias("identity_values"))
        .sort("row_id", maintain_order=True)
    )


def remove_stale_csv(workdir: WorkDir) -> None:
    """A run that lists no changes leaves no older run's list behind under its task ID."""
    if remove(changes_csv_path(workdir)):
        log.info("Removed the stale %s", changes_csv_path(workdir).name)


def log_changes(changes: RunChanges, max_rows: int) -> None:
    """The same lists in the run's log, in the words the English admin task uses."""
    listed = changes.listed(max_rows)
    totals = dict(zip(KINDS, changes.totals(), strict=True))
    for kind, rows in (
        ("New", listed.new),
        ("Changed", listed.changed),
        ("Removed", listed.removed),
    ):
        for row in rows:
            where = f" ({row.position})" if row.position else ""
            log.info("%s row ID %s%s: %s", kind, row.row_id, where, describe(row))
        more = totals[kind.lower()] - len(rows)
        if more > 0:
            log.info("… and %d more %s rows (see the changes attachment)", more, kind.lower())
