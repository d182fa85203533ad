"""Matching a file's header to the mapped columns as a person would, and the objectGUID rule.

HR exports name their columns as their system does: the vendor's page writes "Organizational
unit ID" and "Last name", Workday and SAP write ``OrgUnitId`` or ``employeeNumber``, a
spreadsheet ``Row-ID``. A mapped column the header lacks by its exact name is matched, when the
customer did not name it in ``field_names``, to the one header column that spells it, the page's
attribute name or a common HR-export name for it (:data:`ALIASES`), ignoring case, camelCase,
spaces and punctuation; a ``field_names`` name is matched to its own spellings only. The run then
uses the file's own name everywhere (validation, comparison, output).

Nothing is guessed: two header columns that both spell one mapped column stop the run naming
both; a missing column is stopped with the header's columns that *might* hold it, those of the
same kind (an ID for an ID, a start date for a start date, a name for a name, never a name for an
ID) and subject. A ``field_names`` fix is offered only when exactly one column fits and it fits no
other missing column (a header "Department" may hold the units' IDs or their names: it is named,
not suggested).

``objectGUID_field_name`` follows the vendor's wording ("name of your input data column which
contains unique identifier for row"), and file data is never overwritten: when the file has no
column of that name the connector adds it to each output row with the row ID; when the file has
one, that column *is* the identifier and its values go out as the file wrote them, provided every
row has one and no two rows share one. Otherwise the run is interrupted with
:class:`GuidFieldConflict` (PLATFORM.md §6, docs/configuration.md "objectGUID").
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping, Sequence

from hr_connector.errors import MissingColumns, RunInterrupted
from hr_connector.records import Table
from hr_connector.schemas import RunSchema

_CAMEL = (re.compile(r"([a-z0-9])([A-Z])"), re.compile(r"([A-Z]+)([A-Z][a-z])"))
_NOT_WORD = re.compile(r"[\W_]+")

#: Other names of each canonical column: the vendor page's attribute names first, then common
#: HR-export names. Within one data type no two columns share a spelling (a test checks it).
ALIASES: Mapping[str, tuple[str, ...]] = {
    "row_id": ("Row ID", "Work period ID", "Workperiod ID", "Employment ID", "Assignment ID"),
    "last_name": ("Last name", "Lastname", "Surname", "Family name", "Sukunimi", "Efternamn"),
    "first_name": ("First name", "Firstname", "Given name", "Forename", "Etunimi", "Förnamn"),
    "national_id": (
        "Social security number / national ID",
        "Social security number",
        "SSN",
        "National ID",
        "National identification number",
        "Personal identity number",
        "Henkilötunnus",
        "HETU",
        "Personnummer",
    ),
    "employee_number": (
        "Employee number (employee ID)",
        "Employee ID",
        "Employee No",
        "Emp No",
        "Personnel number",
        "Personnel No",
        "Staff number",
        "Worker ID",
        "Henkilönumero",
        "Anställningsnummer",
    ),
    "employment_start_date": (
        "Employment start date",
        "Start date",
        "Employment start",
        "Start of employment",
        "Hire date",
        "Alkupäivä",
        "Startdatum",
    ),
    "employment_end_date": (
        "Employment end date",
        "End date",
        "Employment end",
        "End of employment",
        "Termination date",
        "Loppupäivä",
        "Slutdatum",
    ),
    "title_id": ("Title ID", "Title code", "Job code", "Job ID", "Job title ID", "Job title code"),
    "title_name": ("Title", "Title name", "Job title", "Job title name"),
    "manager_id": ("Manager ID", "Supervisor ID", "Manager employee number", "Manager employee ID"),
    "manager_name": ("Manager name", "Supervisor name"),
    "org_unit_id": (
        "Organizational unit ID",
        "Organisational unit ID",
        "Organization unit ID",
        "Organisation unit ID",
        "Org unit ID",
        "Organization ID",
        "Organisation ID",
        "Department ID",
        "Department code",
        "Unit ID",
    ),
    "org_unit_name": (
        "Organizational unit name",
        "Organisational unit name",
        "Organization unit name",
        "Organisation unit name",
        "Org unit name",
        "Organization name",
        "Organisation name",
        "Department name",
        "Unit name",
    ),
    "parent_org_unit_id": (
        "Parent organizational unit ID",
        "Parent organization unit ID",
        "Parent org unit ID",
        "Parent unit ID",
        "Parent department ID",
        "Parent ID",
    ),
    "spoken_name": ("Spoken name", "Preferred name", "Called name", "Kutsumanimi", "Tilltalsnamn"),
    "second_name": ("Second name", "Middle name", "Middle names"),
    "employment_type": ("Employment type", "Contract type"),
    "is_manager": ("Is user manager?", "Is manager", "Manager flag", "People manager"),
    "user_type": ("User type", "Worker type"),
    "cost_center": ("Cost center", "Cost centre"),
    "cost_center_id": ("Cost center ID", "Cost centre ID", "Cost center code", "Cost centre code"),
    "cost_center_name": ("Cost center name", "Cost centre name"),
    "owner_id": ("Owner ID", "Cost center owner ID", "Cost centre owner ID"),
    "start_date": ("Start date", "Valid from", "Effective from"),
    "end_date": ("End date", "Valid to", "Valid until", "Effective to"),
}

#: What a column holds, told by its words: a kind is only ever suggested for the same kind.
_KINDS: Mapping[str, frozenset[str]] = {
    "id": frozenset({"id", "code", "number", "no", "nr", "num", "key", "ssn", "hetu", "guid"}),
    "name": frozenset({"name", "names", "title", "surname", "firstname", "lastname", "text"}),
    "start": frozenset({"start", "begin", "from", "hire", "hired"}),
    "end": frozenset({"end", "until", "to", "termination", "leaving", "leave"}),
    "type": frozenset({"type", "kind", "category", "class"}),
    "flag": frozenset({"is", "flag"}),
}
#: Which thing a column is about; words of one group are one subject.
_SUBJECTS: tuple[frozenset[str], ...] = (
    frozenset({"title", "job", "position", "role", "occupation"}),
    frozenset(
        {
            "org",
            "organization",
            "organisation",
            "organizational",
            "organisational",
            "unit",
            "department",
            "dept",
            "division",
            "team",
            "section",
        }
    ),
    frozenset({"manager", "supervisor", "superior", "boss", "lead"}),
    frozenset({"employment", "contract", "hire", "hired"}),
    frozenset({"employee", "emp", "personnel", "staff", "worker", "person"}),
    frozenset({"national", "social", "security", "ssn", "personal", "identity", "hetu"}),
    frozenset({"row", "record", "line", "period", "workperiod", "assignment"}),
    frozenset({"cost", "center", "centre"}),
    frozenset({"last", "surname", "family", "lastname"}),
    frozenset({"first", "given", "forename", "firstname"}),
    frozenset({"spoken", "preferred", "called", "nickname"}),
    frozenset({"second", "middle"}),
    frozenset({"user"}),
    frozenset({"parent"}),
    frozenset({"owner", "responsible"}),
)


def normalized(name: str) -> str:
    """``name`` as one spelling: camelCase split, case folded, words joined by ``_``
    ("OrgUnitId", "Org unit ID" and "org-unit-id" are all ``org_unit_id``)."""
    for pattern in _CAMEL:
        name = pattern.sub(r"\1_\2", name)
    return _NOT_WORD.sub("_", name.casefold()).strip("_")


def _words(name: str) -> list[str]:
    return [w for w in normalized(name).split("_") if w]


def _kind(name: str) -> str | None:
    """The last kind word decides ("Start date" is a start, "Title ID" an ID)."""
    for word in reversed(_words(name)):
        for kind, words in _KINDS.items():
            if word in words:
                return kind
    return None


def _subjects(name: str) -> set[int]:
    words = set(_words(name))
    return {i for i, group in enumerate(_SUBJECTS) if words & group}


def _spellings(canonical: str, name: str) -> set[str]:
    """Every spelling that means the mapped ``name`` of ``canonical``: a ``field_names`` name
    only its own; the canonical name also its aliases."""
    found = {normalized(name)}
    if name == canonical:
        found |= {normalized(alias) for alias in ALIASES.get(canonical, ())}
    return found


@dataclasses.dataclass(frozen=True)
class _Match:
    """How the header answers the mapped columns it lacks by their exact name."""

    #: mapped name -> the header's column that spells it
    renames: dict[str, str]
    #: mapped name -> the header's columns that all spell it (nothing is guessed)
    ambiguous: dict[str, list[str]]


def _match(schema: RunSchema, header: Sequence[str]) -> _Match:
    present = set(header)
    taken = present & set(schema.columns.values())
    by_spelling: dict[str, list[str]] = {}
    for column in header:
        if column not in taken:
            by_spelling.setdefault(normalized(column), []).append(column)
    renames: dict[str, str] = {}
    ambiguous: dict[str, list[str]] = {}
    for canonical, name in schema.columns.items():
        if name in present:
            continue
        found = sorted(
            {c for spelling in _spellings(canonical, name) for c in by_spelling.get(spelling, [])}
        )
        if len(found) == 1:
            renames[name] = found[0]
        elif found:
            ambiguous[name] = found
    used: dict[str, list[str]] = {}
    for name, column in renames.items():
        used.setdefault(column, []).append(name)
    for column, names in used.items():  # one header column for two mapped ones: neither
        if len(names) > 1:
            for name in names:
                del renames[name]
                ambiguous[name] = [column]
    return _Match(renames, ambiguous)


def _renamed(schema: RunSchema, renames: Mapping[str, str]) -> RunSchema:
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


def matched_schema(schema: RunSchema, header: Sequence[str], file: str = "") -> RunSchema:
    """``schema`` with each mapped name the header lacks replaced by its header spelling
    (JSON/XML: the records' keys); two header columns spelling one mapped name stop the run."""
    found = _match(schema, header)
    if found.ambiguous:
        raise MissingColumnsSuggested(file, schema, list(found.ambiguous), header)
    return _renamed(schema, found.renames)


def candidates(schema: RunSchema, missing: str, header: Sequence[str]) -> dict[str, bool]:
    """The header's unmapped columns that might hold the mapped column ``missing``, each with
    whether it is surely of the same kind: a column of the same kind about the same thing (or
    about nothing else), or a column that names no kind but the same thing ("Department")."""
    canonical = schema.canonical(missing)
    kind, subjects = _kind(canonical), _subjects(canonical)
    mapped = set(schema.columns.values())
    found: dict[str, bool] = {}
    for column in header:
        if column in mapped:
            continue
        theirs, their_kind = _subjects(column), _kind(column)
        if kind is not None and their_kind == kind and (not theirs or theirs & subjects):
            found[column] = True
        elif their_kind is None and theirs & subjects:
            found[column] = False
    return found


class MissingColumnsSuggested(MissingColumns):
    """Mapped columns the header lacks, with the header's columns that might hold each; the
    ``field_names`` entry that would fix it only where exactly one column surely fits."""

    def __init__(
        self, file: str, schema: RunSchema, missing: list[str], header: Sequence[str]
    ) -> None:
        super().__init__(file, missing)
        spelled = _match(schema, header).ambiguous
        possible = {name: candidates(schema, name, header) for name in missing}
        fits: dict[str, int] = {}
        for found in possible.values():
            for column in found:
                fits[column] = fits.get(column, 0) + 1
        described: list[str] = []
        fixes: dict[str, str] = {}
        for name in missing:
            found = possible[name]
            if name in spelled:
                both = " and ".join(f"'{c}'" for c in spelled[name])
                described.append(f"{name} (the header spells it more than once: {both})")
            elif len(found) == 1 and all(found.values()) and fits[next(iter(found))] == 1:
                column = next(iter(found))
                described.append(f"{name} (did you mean {column}?)")
                fixes[schema.canonical(name)] = column
            elif found:
                shown = " or ".join(f"'{c}'" for c in found)
                described.append(f"{name} (maybe {shown}: say which with field_names)")
            else:
                described.append(name)
        shown = ", ".join(described)
        where = f"The header of '{file}'" if file else "The HR file's fields"
        self.message = f"{where} lacks the mapped column(s): {shown}."
        if fixes:
            line = json.dumps({"field_names": fixes}, ensure_ascii=False)[1:-1]
            self.hint = (
                f"If those are the columns, add to the extra arguments {line}, or rename "
                "the columns in the HR export, and rerun."
            )
            shown += f". field_names: {json.dumps(fixes, ensure_ascii=False)}"
        elif len(described) > sum(n == d for n, d in zip(missing, described, strict=True)):
            self.hint = (
                'Name the right column with field_names ({"<canonical name>": "<column of '
                'the file>"}), or rename the columns in the HR export, and rerun.'
            )
        self.figures["columns"] = shown
        self.args = (self.message,)


def check_header(file: str, schema: RunSchema, header: Sequence[str]) -> RunSchema:
    """CSV: the matched schema, or MissingColumnsSuggested when a mapped column is missing."""
    found = _match(schema, header)
    matched = _renamed(schema, found.renames)
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
