"""Validation: which rows are blocked, and every reason why (not only the first).

Rules (PLATFORM.md §4): every mandatory column carries a value; in JSON and XML every mapped
attribute exists in each record; dates match one of ``date_formats``; an end date is not before
its start date; a row ID appears once in the file (all rows sharing one are blocked). The CSV
header check is separate (:func:`check_header`) because a missing column interrupts the run
instead of blocking rows.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

from hr_connector.errors import MissingColumns
from hr_connector.records import Reason, Table
from hr_connector.schemas import RunSchema


def check_header(table: Table, schema: RunSchema) -> None:
    """CSV: the header must name every mapped column, or the run is interrupted."""
    present = set(table.columns)
    missing = [c for c in schema.mapped_columns if c not in present]
    if missing:
        raise MissingColumns(table.file, missing)


class DateParser:
    """Parse dates with the run's formats; caches each distinct text (dates repeat a lot)."""

    __slots__ = ("_cache", "formats")

    def __init__(self, formats: tuple[str, ...]) -> None:
        self.formats = formats
        self._cache: dict[str, date | None] = {}

    def __call__(self, text: str) -> date | None:
        try:
            return self._cache[text]
        except KeyError:
            pass
        parsed: date | None = None
        value = text.strip()
        for fmt in self.formats:
            try:
                if fmt == "%Y-%m-%d":
                    if len(value) != 10:
                        raise ValueError
                    parsed = date.fromisoformat(value)
                else:
                    parsed = datetime.strptime(value, fmt).date()
                break
            except ValueError:
                continue
        if len(self._cache) < 100_000:
            self._cache[text] = parsed
        return parsed


def validate_table(table: Table, schema: RunSchema) -> dict[int, list[Reason]]:
    """Row index -> reasons, for every blocked row; rows not in the result are valid."""
    index = table.column_index()
    blocked: dict[int, list[Reason]] = {i: list(r) for i, r in table.row_problems.items()}
    identity = set(schema.identity_columns)

    absent = [c for c in schema.mapped_columns if c not in index]
    checks = [
        (index[c], c, "missing_unique_id" if c in identity else "missing_value")
        for c in schema.mandatory_columns
        if c in index
    ]
    optional_mapped = [
        (index[c], c)
        for c in schema.mapped_columns
        if c in index and c not in schema.mandatory_columns
    ]
    dates = [(index[c], c) for c in schema.date_columns if c in index]
    order = [(index[s], index[e], s, e) for s, e in schema.date_order if s in index and e in index]
    parse = DateParser(schema.date_formats)
    formats = ", ".join(schema.date_formats)

    for i, row in enumerate(table.rows):
        reasons: list[Reason] | None = None
        for c in absent:
            (reasons := reasons or []).append(
                Reason("missing_unique_id" if c in identity else "missing_field", column=c)
            )
        for col, name, code in checks:
            v = row[col]
            if v is None:
                code_here = "missing_unique_id" if name in identity else "missing_field"
                (reasons := reasons or []).append(Reason(code_here, column=name))
            elif not v or v.isspace():
                (reasons := reasons or []).append(Reason(code, column=name))
        for col, name in optional_mapped:
            if row[col] is None:
                (reasons := reasons or []).append(Reason("missing_field", column=name))
        for col, name in dates:
            v = row[col]
            if v and not v.isspace() and parse(v) is None:
                (reasons := reasons or []).append(
                    Reason("invalid_date", column=name, detail=formats)
                )
        for s_col, e_col, _s_name, e_name in order:
            s, e = row[s_col], row[e_col]
            if s and e and not s.isspace() and not e.isspace():
                sd, ed = parse(s), parse(e)
                if sd is not None and ed is not None and ed < sd:
                    (reasons := reasons or []).append(
                        Reason("end_before_start", column=e_name, detail=s)
                    )
        if reasons:
            blocked.setdefault(i, []).extend(reasons)

    key = index.get(schema.key_column)
    if key is not None:
        keys = [row[key] for row in table.rows]
        counts = Counter(keys)
        dupes = {k for k, n in counts.items() if n > 1 and k and not k.isspace()}
        if dupes:
            for i, k in enumerate(keys):
                if k in dupes:
                    blocked.setdefault(i, []).append(Reason("duplicate_row_id", detail=k))
    return blocked
