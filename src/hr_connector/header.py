"""Matching a file's header to the mapped column names, and the objectGUID field rule.

HR exports are not careful about column names: ``Row ID``, ``row-id`` and `` ROW_ID `` all mean
``row_id``. A mapped column that the header lacks by its exact name is matched to the one header
name that equals it ignoring case, surrounding spaces and the difference between ``_``, ``-`` and
a space; the run then uses the file's own name everywhere (validation, comparison, output). When a
mapped column is still missing, the error lists the header's closest names and the
``field_names`` entry that would fix it.

``objectGUID_field_name`` follows the vendor's wording ("name of your input data column which
contains unique identifier for row"), and file data is never overwritten: when the file has no
column of that name the connector adds it to each output row with the row ID; when the file has
one, that column *is* the identifier and its values go out as the file wrote them, provided every
row has one and no two rows share one. Otherwise the run is interrupted with
:class:`GuidFieldConflict` (PLATFORM.md §6, README "objectGUID").
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from collections.abc import Iterable, Sequence

from hr_connector.errors import MissingColumns, RunInterrupted
from hr_connector.records import Table
from hr_connector.schemas import RunSchema

_SEPARATORS = re.compile(r"[\s_-]+")


def normalized(name: str) -> str:
    return _SEPARATORS.sub("_", name.strip().casefold())


def _resolver(header: Sequence[str]) -> dict[str, str]:
    """Normalised name -> the header's name, for names that only one header column has."""
    seen: dict[str, list[str]] = {}
    for column in header:
        seen.setdefault(normalized(column), []).append(column)
    return {norm: names[0] for norm, names in seen.items() if len(names) == 1}


def header_spelling(name: str, header: Sequence[str]) -> str:
    """The header's column for a mapped ``name``: itself, else the one column that differs
    only by case and separators, else "" (as :func:`matched_schema` matches one name)."""
    if name in header:
        return name
    return _resolver(header).get(normalized(name), "")


def matched_schema(schema: RunSchema, header: Sequence[str]) -> RunSchema:
    """``schema`` with each mapped name the header lacks replaced by its header spelling."""
    present = set(header)
    lookup = _resolver(header)
    renames: dict[str, str] = {}
    for name in schema.columns.values():
        if name not in present:
            found = lookup.get(normalized(name))
            if found is not None and found not in schema.columns.values():
                renames[name] = found
    if not renames:
        return schema

    def one(name: str) -> str:
        return renames.get(name, name)

    def many(names: Iterable[str]) -> tuple[str, ...]:
        return tuple(one(n) for n in names)

    return dataclasses.replace(
        schema,
        columns={canonical: one(name) for canonical, name in schema.columns.items()},
        key_column=one(schema.key_column),
        mandatory_columns=many(schema.mandatory_columns),
        mapped_columns=many(schema.mapped_columns),
        identity_columns=many(schema.identity_columns),
        date_columns=many(schema.date_columns),
        date_order=tuple((one(s), one(e)) for s, e in schema.date_order),
        change_columns=None if schema.change_columns is None else many(schema.change_columns),
    )


def suggestions(missing: str, header: Sequence[str]) -> list[str]:
    """The header's names closest to ``missing`` (best first)."""
    by_norm = {normalized(h).replace("_", ""): h for h in header}
    close = difflib.get_close_matches(
        normalized(missing).replace("_", ""), list(by_norm), n=3, cutoff=0.6
    )
    return [by_norm[c] for c in close]


class MissingColumnsSuggested(MissingColumns):
    """MissingColumns with "did you mean …?" and the ``field_names`` entry that would fix it."""

    def __init__(self, file: str, schema: RunSchema, missing: list[str], header: Sequence[str]):
        super().__init__(file, missing)
        described: list[str] = []
        fixes: dict[str, str] = {}
        for name in missing:
            close = suggestions(name, header)
            if close:
                described.append(f"{name} (did you mean {' or '.join(close)}?)")
                fixes[schema.canonical(name)] = close[0]
            else:
                described.append(name)
        shown = ", ".join(described)
        self.message = f"The header of '{file}' lacks the mapped column(s): {shown}."
        if fixes:
            line = json.dumps({"field_names": fixes}, ensure_ascii=False)[1:-1]
            self.hint = (
                f"If those are the columns, add to the extra arguments {line}, or rename "
                "the columns in the HR export, and rerun."
            )
            shown += f". field_names: {json.dumps(fixes, ensure_ascii=False)}"
        self.figures["columns"] = shown
        self.args = (self.message,)


def check_header(file: str, schema: RunSchema, header: Sequence[str]) -> RunSchema:
    """CSV: the matched schema, or MissingColumnsSuggested when a mapped column is missing."""
    matched = matched_schema(schema, header)
    present = set(header)
    missing = [c for c in matched.mapped_columns if c not in present]
    if missing:
        raise MissingColumnsSuggested(file, matched, missing, header)
    return matched


class GuidFieldConflict(RunInterrupted):
    case = "guid_field_conflict"
    message_format = (
        "objectGUID_field_name '{field}' names a column of '{file}' that is not a unique "
        "identifier: {reason}."
    )
    hint_format = (
        "Set objectGUID_field_name to a column that has a unique value in every row, or to a "
        "name the file does not use (the row ID '{key}' is then added under it), and rerun."
    )

    def __init__(self, file: str, field: str, key: str, reason: str):
        self._stated(file=file, field=field, key=key, reason=reason)


def output_guid_field(schema: RunSchema, header: Sequence[str]) -> str:
    """The output key the row ID is put under: a file column of that name is left as it is
    (the row ID is then written onto the key column itself, which already holds it)."""
    return schema.key_column if schema.guid_field in header else schema.guid_field


def check_guid_field(file: str, schema: RunSchema, table: Table) -> None:
    """A file column named by ``objectGUID_field_name`` must identify every row uniquely."""
    field = schema.guid_field
    if field not in table.columns or field == schema.key_column:
        return
    values = table.frame.get_column(field)
    empty = values.is_null() | (values.str.strip_chars() == "")
    repeated = values.is_duplicated() & ~empty
    bad = (empty | repeated).arg_true()
    if len(bad):
        first = int(bad[0])
        if empty[first]:
            reason = f"{table.position(first)} has no value in it"
        else:
            reason = f"the value '{values[first]}' appears in more than one row"
        raise GuidFieldConflict(file, field, schema.key_column, reason)
