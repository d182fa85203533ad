"""The data types, each declared once (PLATFORM.md §4): every module derives from here.

A :class:`DataTypeSchema` says which canonical attributes a data type has, which are mandatory,
which are dates, which one is the row ID, which date pairs must be ordered, what its columns point
at, which data-quality checks apply, what names a row for a person, and its flow's and texts'
names. A fifth data type is one more declaration in :data:`SCHEMAS` and its texts
(``data_type_<name>`` in translation.json). A run turns a declaration into a :class:`RunSchema`
with the customer's column names (``field_names``) and person-ID choice (``unique_id``) applied;
the validator and the comparer only ever look at a ``RunSchema``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from hr_connector.errors import ParametersInvalid

#: A data type's name: a key of :data:`SCHEMAS`.
DataType = str
#: What a reference column points at: a data type's last import, a person (a work period's person
#: ID, in this file or the last work-period import) or a row of this same file.
Target = str
PERSON: Target = "person"
SAME_FILE: Target = "same_file"
#: The data-quality checks that look at rows (:mod:`hr_connector.quality.checks`).
RowCheckName = Literal["references", "cycles", "overlaps", "national_ids"]


@dataclass(frozen=True, slots=True)
class Cycle:
    """Rows that point at a parent row of the same data type; a loop of them blocks its rows."""

    #: the column a row is known by (None: the person ID the run chose)
    source: str | None
    #: the column that names the parent
    parent: str
    #: the reason code of a row on a loop
    code: str


@dataclass(frozen=True, slots=True)
class DataTypeSchema:
    name: DataType
    key: str
    mandatory: tuple[str, ...]
    optional: tuple[str, ...]
    dates: tuple[str, ...] = ()
    #: (start, end) pairs: an end before its start blocks the row.
    date_order: tuple[tuple[str, str], ...] = ()
    #: canonical column -> what it points at (another data type, :data:`PERSON`, :data:`SAME_FILE`)
    references: Mapping[str, Target] = field(default_factory=dict)
    cycle: Cycle | None = None
    #: the row checks that apply (the references check applies to every type)
    checks: tuple[RowCheckName, ...] = ("references",)
    #: a row is a person's (work periods): the run's person-ID choice is mandatory, identifies the
    #: row and is the ID a :data:`PERSON` reference is checked against
    persons: bool = False
    #: canonical columns that say who or what a row is, for a person reading the changes
    described_by: tuple[str, ...] = ()

    @property
    def attributes(self) -> tuple[str, ...]:
        return self.mandatory + self.optional

    @property
    def flow_name(self) -> str:
        """The Prefect flow's name (its deployments' flow in prefect.yaml)."""
        return f"hr-import-{self.name}"

    @property
    def text_key(self) -> str:
        """The case of translation.json that names the data type in the admin's language."""
        return f"data_type_{self.name}"


WORKPERIOD = DataTypeSchema(
    name="workperiod",
    key="row_id",
    mandatory=(
        "row_id",
        "last_name",
        "first_name",
        "employment_start_date",
        "title_id",
        "manager_id",
        "org_unit_id",
    ),
    optional=(
        "employee_number",
        "national_id",
        "spoken_name",
        "second_name",
        "employment_end_date",
        "employment_type",
        "is_manager",
        "title_name",
        "manager_name",
        "user_type",
        "cost_center",
        "org_unit_name",
    ),
    dates=("employment_start_date", "employment_end_date"),
    date_order=(("employment_start_date", "employment_end_date"),),
    references={
        "org_unit_id": "organization",
        "title_id": "title",
        "cost_center": "costcenter",
        "manager_id": PERSON,
    },
    cycle=Cycle(None, "manager_id", "manager_cycle"),
    checks=("references", "cycles", "overlaps", "national_ids"),
    persons=True,
    described_by=("first_name", "last_name", "employment_start_date"),
)
ORGANIZATION = DataTypeSchema(
    name="organization",
    key="org_unit_id",
    mandatory=("org_unit_id", "org_unit_name"),
    optional=("parent_org_unit_id", "manager_id", "cost_center", "start_date", "end_date"),
    dates=("start_date", "end_date"),
    date_order=(("start_date", "end_date"),),
    references={
        "parent_org_unit_id": SAME_FILE,
        "manager_id": PERSON,
        "cost_center": "costcenter",
    },
    cycle=Cycle("org_unit_id", "parent_org_unit_id", "org_cycle"),
    checks=("references", "cycles"),
    described_by=("org_unit_name", "start_date"),
)
TITLE = DataTypeSchema(
    name="title",
    key="title_id",
    mandatory=("title_id", "title_name"),
    optional=(),
    described_by=("title_name",),
)
COSTCENTER = DataTypeSchema(
    name="costcenter",
    key="cost_center_id",
    mandatory=("cost_center_id", "cost_center_name"),
    optional=("owner_id",),
    references={"owner_id": PERSON},
    described_by=("cost_center_name",),
)

#: Every data type, by name. A new data type is one entry here (and its texts).
SCHEMAS: dict[DataType, DataTypeSchema] = {
    s.name: s for s in (COSTCENTER, ORGANIZATION, TITLE, WORKPERIOD)
}
#: The data type whose rows are persons (what a :data:`PERSON` reference is checked against).
PERSONS: DataType = WORKPERIOD.name


@dataclass(frozen=True, slots=True)
class RunSchema:
    """A data type's schema with one customer's column names applied."""

    data_type: DataType
    #: canonical attribute -> the file's column name
    columns: Mapping[str, str]
    key_column: str
    #: file column names that must carry a value in every row
    mandatory_columns: tuple[str, ...]
    #: file column names that must exist (CSV header / every JSON and XML record)
    mapped_columns: tuple[str, ...]
    #: file columns whose emptiness means "the row lacks its unique ID"
    identity_columns: tuple[str, ...]
    date_columns: tuple[str, ...]
    date_order: tuple[tuple[str, str], ...]
    date_formats: tuple[str, ...]
    #: file columns compared between runs; None = every column of the row
    change_columns: tuple[str, ...] | None
    #: the output field that carries the row ID (``objectGUID_field_name``)
    guid_field: str = "objectGUID"

    def canonical(self, column: str) -> str:
        for canonical, actual in self.columns.items():
            if actual == column:
                return canonical
        return column


class SchemaChoices(Protocol):
    """What a run's schema is made from (:class:`~hr_connector.params.ConnectorParams`)."""

    @property
    def data_type(self) -> DataType: ...
    @property
    def field_names(self) -> Mapping[str, str]: ...
    @property
    def unique_id(self) -> str: ...
    @property
    def date_formats(self) -> Sequence[str]: ...
    @property
    def change_columns(self) -> Sequence[str] | None: ...
    @property
    def objectGUID_field_name(self) -> str: ...


def run_schema(params: SchemaChoices) -> RunSchema:
    """Apply ``field_names``, ``unique_id``, ``date_formats`` and ``change_columns``."""
    schema = SCHEMAS[params.data_type]
    unknown = sorted(set(params.field_names) - set(schema.attributes))
    if unknown:
        raise ParametersInvalid(
            [],
            {
                "field_names": f"not attributes of {schema.name}: {', '.join(unknown)} "
                f"(known: {', '.join(schema.attributes)})"
            },
        )
    columns = {a: params.field_names.get(a, a) for a in schema.attributes}
    mandatory = list(schema.mandatory)
    identity = [schema.key]
    if schema.persons:
        mandatory.append(params.unique_id)
        identity.append(params.unique_id)
    explicitly_mapped = [
        a for a in schema.optional if a in params.field_names and a not in mandatory
    ]
    change = None
    if params.change_columns is not None:
        change = tuple(columns.get(c, c) for c in params.change_columns)
    return RunSchema(
        data_type=schema.name,
        columns=columns,
        key_column=columns[schema.key],
        mandatory_columns=tuple(columns[a] for a in mandatory),
        mapped_columns=tuple(columns[a] for a in [*mandatory, *explicitly_mapped]),
        identity_columns=tuple(columns[a] for a in identity),
        date_columns=tuple(columns[a] for a in schema.dates),
        date_order=tuple((columns[s], columns[e]) for s, e in schema.date_order),
        date_formats=tuple(params.date_formats),
        change_columns=change,
        guid_field=params.objectGUID_field_name,
    )
