"""The four data types as declarative schema contracts (PLATFORM.md §4).

A :class:`DataTypeSchema` says which canonical attributes a data type has, which are mandatory,
which are dates, which one is the row ID and which date pairs must be ordered. A run turns it into
a :class:`RunSchema` with the customer's column names (``field_names``) and person-ID choice
(``unique_id``) applied; the validator and the comparer only ever look at a ``RunSchema``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from hr_connector.errors import ParametersInvalid

DataType = Literal["costcenter", "organization", "title", "workperiod"]


@dataclass(frozen=True, slots=True)
class DataTypeSchema:
    name: DataType
    key: str
    mandatory: tuple[str, ...]
    optional: tuple[str, ...]
    dates: tuple[str, ...] = ()
    #: (start, end) pairs: an end before its start blocks the row.
    date_order: tuple[tuple[str, str], ...] = ()

    @property
    def attributes(self) -> tuple[str, ...]:
        return self.mandatory + self.optional


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
)
ORGANIZATION = DataTypeSchema(
    name="organization",
    key="org_unit_id",
    mandatory=("org_unit_id", "org_unit_name"),
    optional=("parent_org_unit_id", "manager_id", "cost_center", "start_date", "end_date"),
    dates=("start_date", "end_date"),
    date_order=(("start_date", "end_date"),),
)
TITLE = DataTypeSchema(
    name="title", key="title_id", mandatory=("title_id", "title_name"), optional=()
)
COSTCENTER = DataTypeSchema(
    name="costcenter",
    key="cost_center_id",
    mandatory=("cost_center_id", "cost_center_name"),
    optional=("owner_id",),
)

SCHEMAS: Mapping[str, DataTypeSchema] = {
    s.name: s for s in (COSTCENTER, ORGANIZATION, TITLE, WORKPERIOD)
}


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
    if schema.name == "workperiod":
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
