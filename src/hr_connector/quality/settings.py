"""Which data-quality checks run, how hard each one is, and what one run's checks are given.

One parameter, ``checks``, sets a severity per check: ``block`` (a row-level finding blocks the
row with its reason; a file-level finding stops the run), ``warn`` (listed in the admin task's
"Data quality" section, the rows are imported) or ``off``. Keys not given keep their defaults,
which keep the vendor's behaviour: ``warn`` for the row-level checks the vendor does not make,
``off`` for the repeated-file stop; the file-age stop runs only when ``max_file_age_hours`` is set.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import polars as pl

    from hr_connector.schemas import RunSchema

Severity = Literal["block", "warn", "off"]
SEVERITIES: tuple[Severity, ...] = ("block", "warn", "off")

#: Row-level checks (a finding names rows) and their defaults.
ROW_CHECKS: dict[str, Severity] = {
    "references": "warn",
    "cycles": "warn",
    "overlaps": "warn",
    "national_ids": "warn",
}
#: File-level checks (a finding is about the whole file) and their defaults.
FILE_CHECKS: dict[str, Severity] = {
    "same_file": "off",
    "file_age": "block",
}
DEFAULTS: dict[str, Severity] = {**ROW_CHECKS, **FILE_CHECKS}
CHECK_NAMES: tuple[str, ...] = tuple(DEFAULTS)


def parse_checks(value: Any) -> dict[str, Severity]:
    """The ``checks`` parameter: an object (or its JSON text) of check name -> severity.

    Raises ValueError naming every unknown check and bad severity (pydantic reports it as an
    invalid ``checks`` key).
    """
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(value, Mapping):
        raise ValueError('an object such as {"references": "block", "cycles": "warn"}')
    problems: list[str] = []
    out: dict[str, Severity] = {}
    for name, severity in value.items():
        key = str(name).strip().lower()
        level = str(severity).strip().lower()
        if key not in DEFAULTS:
            problems.append(f"unknown check '{name}' (known: {', '.join(CHECK_NAMES)})")
        elif level not in SEVERITIES:
            problems.append(f"'{name}': '{severity}' is not one of block, warn, off")
        else:
            out[key] = level
    if problems:
        raise ValueError("; ".join(problems))
    return out


def national_id_module(country: str) -> Any:
    """The python-stdnum module that validates personal IDs of ``country`` (ISO 3166 code)."""
    from stdnum import get_cc_module

    cc = country.strip().lower()
    return get_cc_module(cc, PERSONAL_ID_MODULES[cc]) if cc in PERSONAL_ID_MODULES else None


_MODULES = """fi:hetu se:personnummer no:fodselsnummer dk:cpr pl:pesel is:kennitala ee:ik lt:asmens
be:nn bg:egn cz:rc sk:rc ro:cnp hr:oib si:emso it:codicefiscale es:dni pt:cc nl:bsn ch:ssn gr:amka
ie:pps fr:nir de:idnr at:vnr us:ssn ca:sin mx:curp br:cpf ar:dni cl:run za:idnr in:aadhaar cn:ric
kr:rrn th:pin tr:tckimlik il:idnr"""
#: Country -> the python-stdnum module of its personal identity number.
PERSONAL_ID_MODULES: dict[str, str] = dict(pair.split(":", 1) for pair in _MODULES.split())


def validate_country(value: str | None) -> str | None:
    """``national_id_country``: a country python-stdnum can check personal IDs of, or None."""
    if value is None or not str(value).strip():
        return None
    cc = str(value).strip().lower()
    if national_id_module(cc) is None:
        known = ", ".join(sorted(c for c in PERSONAL_ID_MODULES if national_id_module(c)))
        raise ValueError(f"no national ID check for '{value}' (known: {known})")
    return cc


@dataclass(frozen=True)
class QualitySettings:
    """The resolved severities and the parameters the checks use."""

    severity: Mapping[str, Severity]
    national_id_country: str | None = None
    max_file_age_hours: float | None = None
    reference_archives_dir: str | None = None

    def level(self, check: str) -> Severity:
        return self.severity.get(check, DEFAULTS[check])

    def on(self, check: str) -> bool:
        return self.level(check) != "off"

    @classmethod
    def from_params(cls, params: Any) -> QualitySettings:
        given = params.quality  # hr_connector.params.QualityParams: the keys as given
        return cls(severity={**DEFAULTS, **given.checks}, **given.model_dump(exclude={"checks"}))


#: ``imported(folder, data_type, column)``: that column's values over the rows the last completed
#: run of ``data_type`` in ``folder`` imported; None when it never ran there
#: (:meth:`hr_connector.previous_run.PreviousRuns.imported_column`).
ImportedColumn = Callable[[Path, str, str], "pl.Series | None"]


@dataclass(frozen=True)
class CheckContext:
    """What one run's row checks are given besides the table."""

    settings: QualitySettings
    schema: RunSchema
    #: the canonical column that identifies a person (``employee_number`` or ``national_id``)
    unique_id: str
    #: this working directory's archive folder (the last work-period import, for a work period)
    archive_dir: Path
    #: the other data types' archive folder (``reference_archives_dir``, else ``archive_dir``)
    reference_dir: Path
    imported: ImportedColumn
    #: how a folder is named to a person (relative to the working directory)
    shown: Callable[[Path], str] = str
    today: date = field(default_factory=date.today)

    def name(self, canonical: str) -> str:
        """The file's name of a canonical column."""
        return self.schema.columns.get(canonical, canonical)

    @property
    def person(self) -> str:
        return self.name(self.unique_id)

    @property
    def masked(self) -> bool:
        """Whether persons are named by national ID (shown masked)."""
        return self.unique_id == "national_id"
