#!/usr/bin/env python3
"""Write the hr-connector sample HR files (CSV, JSON and XML) deterministically.

Why this script exists
----------------------
The tests, the demo runs and the documentation all need small, realistic HR exports for the
four data types of PLATFORM.md §4 (``costcenter``, ``organization``, ``title``,
``workperiod``). Hand-made files drift apart: a CSV edited without its JSON twin, an XML file
whose rows are in another order. Generating all of them from one table in this script
guarantees that

* the three formats of one data type carry exactly the same rows, in the same order, with the
  same values (checked by an assertion on every run);
* the deliberately bad rows are always the same ones, so tests can assert exact counts
  (see ``samples/README.md``; an independent validation here checks the list);
* the data is internally consistent: every valid work period points at a title, an
  organization unit, a cost center and a manager that exist in the other samples;
* the output is byte-for-byte reproducible: no randomness, no dependency on the clock.

The data is fictional. National IDs have the Finnish shape ``DDMMYYCNNNK`` with a correct
check character, but use individual numbers 900-999, which Finland reserves for temporary IDs
and never gives to a resident, so they cannot be real people's IDs. Dates were chosen
relative to 2026-11-26 (the day the samples were made): "past" periods ended before it,
"future" ones start after it.

Run with ``python samples/make_samples.py`` (standard library only). ``--out DIR`` writes the
tree somewhere else (e.g. a test's temporary directory).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from xml.sax.saxutils import escape

from hr_connector.schemas import SCHEMAS

Row = dict[str, str]

WD_NAMESPACE = "urn:com.workday.report/HR_Export"
CSV_DELIMITER = ";"
DATE_FORMAT = "%Y-%m-%d"

# ---------------------------------------------------------------------------------------------
# The column order of the sample exports (PLATFORM.md §4): key column first, then every
# mandatory and optional column of the schema (checked below).
# ---------------------------------------------------------------------------------------------
COLUMNS: dict[str, list[str]] = {
    "costcenter": ["cost_center_id", "cost_center_name", "owner_id"],
    "organization": [
        "org_unit_id",
        "org_unit_name",
        "parent_org_unit_id",
        "manager_id",
        "cost_center",
        "start_date",
        "end_date",
    ],
    "title": ["title_id", "title_name"],
    "workperiod": [
        "row_id",
        "employee_number",
        "national_id",
        "first_name",
        "second_name",
        "spoken_name",
        "last_name",
        "employment_start_date",
        "employment_end_date",
        "employment_type",
        "user_type",
        "is_manager",
        "title_id",
        "title_name",
        "org_unit_id",
        "org_unit_name",
        "cost_center",
        "manager_id",
        "manager_name",
    ],
}
# Key, mandatory columns and date pairs come from the connector's own schemas; for workperiod the
# samples use the default unique_id = employee_number, which makes employee_number mandatory too.
KEY_COLUMN: dict[str, str] = {name: s.key for name, s in SCHEMAS.items()}
MANDATORY: dict[str, list[str]] = {name: list(s.mandatory) for name, s in SCHEMAS.items()}
MANDATORY["workperiod"].insert(1, "employee_number")
DATE_PAIRS: dict[str, list[tuple[str, str]]] = {
    name: list(s.date_order) for name, s in SCHEMAS.items()
}
for _name, _columns in COLUMNS.items():  # the export order names exactly the schema's columns
    assert sorted(_columns) == sorted(SCHEMAS[_name].attributes), _name
    assert _columns[0] == KEY_COLUMN[_name], _name

# ---------------------------------------------------------------------------------------------
# costcenter, title, organization
# ---------------------------------------------------------------------------------------------
COSTCENTERS: list[Row] = [
    {"cost_center_id": "CC1000", "cost_center_name": "Konsernihallinto", "owner_id": "E1001"},
    {"cost_center_id": "CC1100", "cost_center_name": "Talous ja HR", "owner_id": "E1002"},
    {"cost_center_id": "CC1200", "cost_center_name": "IT-infrastruktuuri", "owner_id": "E1010"},
    {"cost_center_id": "CC1210", "cost_center_name": "Ohjelmistokehitys", "owner_id": "E1011"},
    {"cost_center_id": "CC1300", "cost_center_name": "Myynti Pohjoismaat", "owner_id": "E1020"},
    {"cost_center_id": "CC1310", "cost_center_name": "Försäljning Sverige", "owner_id": "E1021"},
    {"cost_center_id": "CC1400", "cost_center_name": "Asiakaspalvelu", "owner_id": "E1030"},
    {"cost_center_id": "CC1500", "cost_center_name": "Tutkimus & kehitys", "owner_id": "E1010"},
    # BAD: empty mandatory cost_center_name.
    {"cost_center_id": "CC1600", "cost_center_name": "", "owner_id": "E1001"},
]

TITLES: list[Row] = [
    {"title_id": "T100", "title_name": "Toimitusjohtaja"},
    {"title_id": "T110", "title_name": "Ekonomichef"},
    {"title_id": "T120", "title_name": "Kirjanpitäjä"},
    {"title_id": "T130", "title_name": "HR Business Partner"},
    {"title_id": "T140", "title_name": "IT-päällikkö"},
    {"title_id": "T150", "title_name": "Ohjelmistokehittäjä"},
    {"title_id": "T160", "title_name": "Senior Software Engineer"},
    {"title_id": "T170", "title_name": "Järjestelmäasiantuntija"},
    {"title_id": "T180", "title_name": "Försäljningschef"},
    {"title_id": "T190", "title_name": "Säljare"},
    {"title_id": "T200", "title_name": "Asiakaspalvelija"},
    {"title_id": "T210", "title_name": "Tiiminvetäjä"},
    {"title_id": "T220", "title_name": "Konsult"},
    # BAD: empty mandatory title_name.
    {"title_id": "T230", "title_name": ""},
]


def _org(
    unit: str, name: str, parent: str, manager: str, cost_center: str, start: str, end: str = ""
) -> Row:
    return {
        "org_unit_id": unit,
        "org_unit_name": name,
        "parent_org_unit_id": parent,
        "manager_id": manager,
        "cost_center": cost_center,
        "start_date": start,
        "end_date": end,
    }


ORGANIZATIONS: list[Row] = [
    _org("OU100", "Nordic Group Oy", "", "E1001", "CC1000", "2025-01-01"),
    _org("OU110", "Talous ja hallinto", "OU100", "E1002", "CC1100", "2025-01-01"),
    _org("OU111", "HR & People", "OU110", "E1005", "CC1100", "2025-01-01"),
    # closed; QUALITY: its own parent (a cycle of one, for the data-quality checks)
    _org("OU112", "Hankinta", "OU112", "", "CC1100", "2025-01-01", "2026-06-30"),
    _org("OU120", "IT-palvelut", "OU100", "E1010", "CC1200", "2025-01-01"),
    _org("OU121", "Ohjelmistokehitys", "OU120", "E1011", "CC1210", "2025-01-01"),
    _org("OU122", "Infrastruktuuri & tietoturva", "OU120", "E1012", "CC1200", "2025-03-01"),
    _org("OU130", "Sales; Nordics", "OU100", "E1020", "CC1300", "2025-01-01"),
    _org("OU131", "Försäljning Sverige", "OU130", "E1021", "CC1310", "2025-01-01"),
    _org("OU132", "Salg Norge", "OU130", "E1022", "CC1300", "2025-09-01"),
    _org("OU140", "Asiakaspalvelu", "OU100", "E1030", "CC1400", "2025-01-01"),
    # BAD: empty mandatory org_unit_name.
    _org("OU150", "", "OU100", "E1001", "CC1000", "2026-01-01"),
]

# ---------------------------------------------------------------------------------------------
# workperiod
# ---------------------------------------------------------------------------------------------
_CHECK_CHARS = "0123456789ABCDEFHJKLMNPRSTUVWXY"
_CENTURY_SIGN = {18: "+", 19: "-", 20: "A"}


def finnish_national_id(birth: str, individual: int) -> str:
    """Return a check-valid Finnish personal identity code; 900-999 = temporary, never real."""
    born = date.fromisoformat(birth)
    assert 900 <= individual <= 999, individual
    check = _CHECK_CHARS[int(f"{born:%d%m%y}{individual:03d}") % 31]
    return f"{born:%d%m%y}{_CENTURY_SIGN[born.year // 100]}{individual:03d}{check}"


@dataclass(frozen=True)
class Person:
    """One person; ``employee_number`` may be empty only in the deliberately bad row."""

    employee_number: str
    first_name: str
    second_name: str
    spoken_name: str
    last_name: str
    birth: str
    individual: int

    @property
    def national_id(self) -> str:
        return finnish_national_id(self.birth, self.individual)


@dataclass(frozen=True)
class Period:
    """One work period. ``person`` and ``manager`` are handles (normally employee numbers)."""

    person: str
    start: str
    end: str
    employment_type: str
    title_id: str
    org_unit_id: str
    manager: str
    is_manager: bool = False
    user_type: str = "internal"
    cost_center: str = ""  # empty = the org unit's cost center
    reuse_previous_row_id: bool = False  # the deliberate duplicate row_id


PEOPLE: dict[str, Person] = {
    "E1001": Person("E1001", "Jyrki", "Tapani", "", "Mäkelä", "1968-04-13", 912),
    "E1002": Person("E1002", "Åsa", "Kristina", "", "Öberg", "1975-10-02", 927),
    "E1003": Person("E1003", "Mikko", "Olavi", "", "Äijälä", "1990-07-21", 935),
    "E1004": Person("E1004", "Sigrún", "Björk", "", "Þórsdóttir", "1988-03-30", 944),
    "E1005": Person("E1005", "Helena", "", "", "Sørensen", "1979-12-05", 951),
    "E1006": Person("E1006", "Elina", "Maria", "", "Järvinen", "1993-01-17", 968),
    "E1010": Person("E1010", "Łukasz", "", "", "Nowak", "1982-06-09", 973),
    "E1011": Person("E1011", "Päivi", "Annikki", "", "Hämäläinen", "1985-09-14", 986),
    "E1012": Person("E1012", "Bjørn", "", "", "Østergaard", "1980-02-28", 991),
    "E1013": Person("E1013", "Ville", "Juhani", "", "Könönen", "1996-11-03", 904),
    "E1014": Person("E1014", "Aino", "", "", "Söderström", "1998-05-25", 918),
    "E1015": Person("E1015", "Oskar", "Emil", "", "Lindqvist", "1994-08-11", 929),
    "E1016": Person("E1016", "Sanna", "", "", "Pölönen", "1987-04-06", 932),
    "E1017": Person("E1017", "Mats", "", "", "Ødegård", "1977-09-19", 947),
    "E1018": Person("E1018", "Kristiina", "Helmi", "Kiia", "Ylä-Outinen", "2001-02-14", 956),
    "E1019": Person("E1019", "Anders", "", "", "Bäckström", "1972-12-24", 963),
    "E1020": Person("E1020", "Göran", "", "", "Åkesson", "1974-03-08", 975),
    "E1021": Person("E1021", "Märta", "Louise", "", "Ängström", "1983-07-01", 981),
    "E1022": Person("E1022", "Sølvi", "", "", "Brække", "1989-10-27", 994),
    "E1023": Person("E1023", "Carl-Henrik", "", "Calle", "Hälleberg", "1991-06-15", 908),
    "E1024": Person("E1024", "Kåre", "", "", "Løvås", "1986-01-31", 915),
    "E1025": Person("E1025", "Emilia", "Sofia", "", "Ståhlberg", "1997-09-09", 923),
    "E1026": Person("E1026", "Guðrún", "", "", "Jónsdóttir", "1992-04-18", 938),
    "E1030": Person("E1030", "Tuula", "Kaarina", "", "Ylönen", "1970-08-22", 942),
    "E1031": Person("E1031", "Jussi", "", "", "Närhi", "2003-03-12", 957),
    "E1032": Person("E1032", "Essi", "Aurora", "", "Kärkkäinen", "2002-12-01", 961),
    "E1033": Person("E1033", "Henrik", "", "", "Åberg", "1999-05-05", 977),
    "E1034": Person("E1034", "Nanna", "", "", "Østby", "2004-07-29", 983),
    "E1035": Person("E1035", "Eetu", "Ilmari", "", "Väänänen", "2000-10-10", 996),
    # The people of the deliberately bad rows (see BAD_KEYS["workperiod"]).
    "X-NOEMP": Person("", "Raili", "", "", "Hyvärinen", "1984-11-11", 903),
    "E1041": Person("E1041", "Noora", "", "", "", "1995-02-02", 916),
    "E1042": Person("E1042", "Kalle", "", "", "Ryynänen", "1978-06-30", 924),
    "E1043": Person("E1043", "Petra", "", "", "Sjöholm", "1990-09-03", 939),
    "E1044": Person("E1044", "Frida", "", "", "Åström", "1999-12-12", 948),
    "E1045": Person("E1045", "Teemu", "", "", "Ärölä", "1993-05-20", 959),
    # New hires that appear only in the next-day file.
    "E1036": Person("E1036", "Aleksi", "", "", "Räsänen", "2000-01-26", 965),
    "E1037": Person("E1037", "Åse", "", "", "Kjærnes", "1998-08-08", 972),
}

P, T, H, X = "permanent", "temporary", "hour-based", "external"

# Row ids are assigned in this order: WP-0001, WP-0002, ... (the duplicate reuses one).
PERIODS: list[Period] = [
    # Management and finance
    Period("E1001", "2025-01-01", "", P, "T100", "OU100", "E1001", True),  # top boss: self
    Period("E1002", "2025-01-01", "", P, "T110", "OU110", "E1001", True),
    Period("E1003", "2025-01-07", "2025-06-30", T, "T120", "OU110", "E1002"),  # ended, past
    Period("E1003", "2025-07-01", "", P, "T120", "OU110", "E1002"),  # current
    Period("E1006", "2025-04-01", "", P, "T120", "OU110", "E1002"),
    Period("E1043", "2026-05-01", "2026-04-30", P, "T120", "OU110", "E1002"),  # BAD WP-0006
    Period("E1005", "2025-01-01", "", P, "T130", "OU111", "E1002", True),
    Period("E1004", "2025-02-01", "", P, "T130", "OU111", "E1005"),
    # IT
    Period("E1010", "2025-01-01", "", P, "T140", "OU120", "E1001", True),
    Period("E1011", "2025-01-01", "", P, "T210", "OU121", "E1010", True),
    Period("E1013", "2025-03-01", "2027-01-31", P, "T150", "OU121", "E1011"),  # current
    Period("E1013", "2027-02-01", "", P, "T160", "OU121", "E1011"),  # future
    Period("E1014", "2025-05-15", "", P, "T160", "OU121", "E1011"),  # leaves (next day)
    Period("E1015", "2025-08-01", "", P, "T150", "OU121", "E1011"),  # promoted (next day)
    Period("E1041", "2026-02-01", "", P, "T150", "OU121", "E1011"),  # BAD WP-0015
    Period(
        "E1019",
        "2026-01-12",
        "2027-06-30",
        X,
        "T220",
        "OU121",
        "E1011",
        False,
        "external",
        "CC1500",
    ),
    Period("E1012", "2025-03-01", "", P, "T210", "OU122", "E1010", True),
    Period("E1016", "2025-03-01", "", P, "T170", "OU122", "E1012"),
    Period(  # QUALITY: charged to CC1700, a cost center the costcenter sample lacks
        "E1017",
        "2025-10-01",
        "2026-12-31",
        X,
        "T220",
        "OU122",
        "E1012",
        False,
        "external",
        "CC1700",
    ),
    Period("E1018", "2026-06-01", "2027-05-31", T, "T170", "OU122", "E1012"),
    # Sales
    Period("E1020", "2025-01-01", "", P, "T180", "OU130", "E1001", True),
    Period("E1025", "2025-06-01", "", P, "T190", "OU130", "E1020"),
    Period("E1026", "2026-09-01", "", P, "T190", "OU130", "E1020"),
    Period("E1021", "2025-01-01", "", P, "T180", "OU131", "E1020", True),
    Period("E1023", "2025-04-14", "", P, "T190", "OU131", "E1021"),
    Period("E1042", "2025-02-30", "", P, "T190", "OU131", "E1021"),  # BAD WP-0026
    Period("E1022", "2025-02-01", "2025-08-31", P, "T190", "OU131", "E1021"),  # ended, past
    Period("E1022", "2025-09-01", "", P, "T180", "OU132", "E1020", True),  # current
    Period("E1024", "2025-09-01", "", P, "T190", "OU132", "E1022"),
    # Customer service
    Period("E1030", "2025-01-01", "", P, "T210", "OU140", "E1001", True),
    Period("E1031", "2025-06-01", "", H, "T200", "OU140", "E1030"),
    Period("E1032", "2025-03-01", "2025-08-31", H, "T200", "OU140", "E1030"),  # ended, past
    # ended, past; QUALITY: ends 2026-01-15, after the next period started (overlap)
    Period("E1032", "2025-09-01", "2026-01-15", T, "T200", "OU140", "E1030"),
    Period("E1032", "2026-01-01", "", P, "T200", "OU140", "E1030"),  # current
    Period("X-NOEMP", "2026-03-01", "", H, "T200", "OU140", "E1030"),  # BAD WP-0035
    Period("E1033", "2026-04-01", "2026-12-31", T, "T200", "OU140", "E1030"),
    Period("E1034", "2026-10-05", "", H, "T200", "OU140", "E1030"),
    Period("E1035", "2027-01-15", "", P, "T200", "OU140", "E1030"),  # future; removed next day
    Period("E1044", "2026-08-01", "", P, "T200", "OU140", "E1030"),  # BAD WP-0039 (1 of 2)
    Period(
        "E1045", "2026-08-01", "", P, "T200", "OU140", "E1030", reuse_previous_row_id=True
    ),  # BAD WP-0039 (2 of 2)
]

# The next-day changes (partial run).
NEXT_DAY_CHANGES: dict[str, dict[str, str]] = {
    # E1014 Aino Söderström resigned: end date added.
    "WP-0013": {"employment_end_date": "2027-01-31"},
    # E1015 Oskar Lindqvist promoted.
    "WP-0014": {"title_id": "T160", "title_name": "Senior Software Engineer"},
}
NEXT_DAY_REMOVED: list[str] = ["WP-0038"]  # E1035's future period: offer withdrawn
NEXT_DAY_NEW: list[Period] = [
    Period("E1036", "2027-01-04", "", P, "T150", "OU121", "E1011"),  # WP-0040
    Period("E1037", "2026-12-01", "2027-05-31", T, "T190", "OU132", "E1022"),  # WP-0041
]

# One of each problem the data-quality checks find; none blocks a row by default
# (the checks warn), so the counts above stay. E1001 is his own manager (a cycle), OU112 its own
# parent, WP-0019 is charged to an unknown cost center, E1032's periods WP-0033/WP-0034
# overlap, and E1033's national ID has a wrong check character.
QUALITY_PROBLEMS = {
    "unknown_cost_centers": {"CC1700"},
    "self_parents": {"OU112"},
    "wrong_check_character": {"E1033"},
}


def _national_id(person: Person) -> str:
    """The person's ID; a deliberately wrong check character where QUALITY_PROBLEMS says so."""
    nid = person.national_id
    if person.employee_number in QUALITY_PROBLEMS["wrong_check_character"]:
        wrong = _CHECK_CHARS[(_CHECK_CHARS.index(nid[-1]) + 1) % len(_CHECK_CHARS)]
        nid = nid[:-1] + wrong
    return nid


# The deliberately bad rows by key; the generator checks this against its own validation.
BAD_KEYS: dict[str, dict[str, str]] = {
    "costcenter": {"CC1600": "cost_center_name is empty"},
    "organization": {"OU150": "org_unit_name is empty"},
    "title": {"T230": "title_name is empty"},
    "workperiod": {
        "WP-0006": "employment_end_date 2026-04-30 is before employment_start_date 2026-05-01",
        "WP-0015": "last_name is empty",
        "WP-0026": "employment_start_date 2025-02-30 is not a valid date",
        "WP-0035": "employee_number (the unique person ID) is empty",
        "WP-0039": "row_id shared by two rows (E1044 Frida Åström and E1045 Teemu Ärölä)",
    },
}


def _period_row(row_id: str, period: Period) -> Row:
    person = PEOPLE[period.person]
    manager = PEOPLE[period.manager]
    org = next(o for o in ORGANIZATIONS if o["org_unit_id"] == period.org_unit_id)
    title = next(t for t in TITLES if t["title_id"] == period.title_id)
    return {
        "row_id": row_id,
        "employee_number": person.employee_number,
        "national_id": _national_id(person),
        "first_name": person.first_name,
        "second_name": person.second_name,
        "spoken_name": person.spoken_name,
        "last_name": person.last_name,
        "employment_start_date": period.start,
        "employment_end_date": period.end,
        "employment_type": period.employment_type,
        "user_type": period.user_type,
        "is_manager": "true" if period.is_manager else "false",
        "title_id": title["title_id"],
        "title_name": title["title_name"],
        "org_unit_id": org["org_unit_id"],
        "org_unit_name": org["org_unit_name"],
        "cost_center": period.cost_center or org["cost_center"],
        "manager_id": manager.employee_number,
        "manager_name": f"{manager.first_name} {manager.last_name}",
    }


def build_workperiods() -> list[Row]:
    """The workperiod rows in file order, row ids WP-0001 upwards."""
    rows: list[Row] = []
    number = 0
    for period in PERIODS:
        if not period.reuse_previous_row_id:
            number += 1
        rows.append(_period_row(f"WP-{number:04d}", period))
    return rows


def build_next_day(rows: list[Row]) -> list[Row]:
    """The same rows with NEXT_DAY_* applied; new rows are appended at the end."""
    next_rows = [
        {**row, **NEXT_DAY_CHANGES.get(row["row_id"], {})}
        for row in rows
        if row["row_id"] not in NEXT_DAY_REMOVED
    ]
    number = max(int(r["row_id"].removeprefix("WP-")) for r in rows)
    for offset, period in enumerate(NEXT_DAY_NEW, start=1):
        next_rows.append(_period_row(f"WP-{number + offset:04d}", period))
    return next_rows


# ---------------------------------------------------------------------------------------------
# Writers and readers
# ---------------------------------------------------------------------------------------------
def render_csv(columns: list[str], rows: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(
        buffer, delimiter=CSV_DELIMITER, quoting=csv.QUOTE_MINIMAL, lineterminator="\n"
    )
    writer.writerow(columns)
    writer.writerows([row[c] for c in columns] for row in rows)
    return buffer.getvalue()


def render_json(columns: list[str], rows: list[Row]) -> str:
    entries = [{c: row[c] for c in columns} for row in rows]
    return json.dumps({"Report_Entry": entries}, ensure_ascii=False, indent=2) + "\n"


def render_xml(columns: list[str], rows: list[Row]) -> str:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<wd:Report_Data xmlns:wd="{WD_NAMESPACE}">',
    ]
    for row in rows:
        lines.append("  <wd:Report_Entry>")
        for column in columns:
            value = row[column]
            if value:
                lines.append(f"    <wd:{column}>{escape(value)}</wd:{column}>")
            else:
                lines.append(f"    <wd:{column}/>")
        lines.append("  </wd:Report_Entry>")
    lines.append("</wd:Report_Data>")
    return "\n".join(lines) + "\n"


def read_csv(path: Path) -> list[Row]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter=CSV_DELIMITER)
        header = next(reader)
        return [dict(zip(header, values, strict=True)) for values in reader]


def read_json(path: Path) -> list[Row]:
    with path.open(encoding="utf-8") as handle:
        entries: list[Row] = json.load(handle)["Report_Entry"]
    assert all(isinstance(v, str) for entry in entries for v in entry.values()), path
    return entries


def read_xml(path: Path) -> list[Row]:
    prefix = f"{{{WD_NAMESPACE}}}"
    root = ET.parse(path).getroot()
    assert root.tag == f"{prefix}Report_Data", root.tag
    return [
        {child.tag.removeprefix(prefix): child.text or "" for child in entry}
        for entry in root.iterfind(f"{prefix}Report_Entry")
    ]


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:  # UTF-8, no BOM, LF as given
        handle.write(text)


def write_all_formats(directory: Path, data_type: str, rows: list[Row]) -> list[Path]:
    """Write <data_type>.csv/.json/.xml and assert that all three read back identically."""
    columns = COLUMNS[data_type]
    assert all(list(row) == columns for row in rows), f"{data_type}: columns differ"
    csv_path = directory / f"{data_type}.csv"
    json_path = directory / f"{data_type}.json"
    xml_path = directory / f"{data_type}.xml"
    write_text(csv_path, render_csv(columns, rows))
    write_text(json_path, render_json(columns, rows))
    write_text(xml_path, render_xml(columns, rows))
    csv_rows = read_csv(csv_path)
    assert csv_rows == rows, f"{csv_path}: CSV does not read back as written"
    assert read_json(json_path) == csv_rows, f"{json_path}: JSON differs from CSV"
    assert read_xml(xml_path) == csv_rows, f"{xml_path}: XML differs from CSV"
    return [csv_path, json_path, xml_path]


# ---------------------------------------------------------------------------------------------
# Independent validation: proves the bad rows are exactly the intended ones.
# ---------------------------------------------------------------------------------------------
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _parse_date(value: str) -> date | None:
    if not _ISO_DATE.fullmatch(value):
        return None
    try:
        return datetime.strptime(value, DATE_FORMAT).date()
    except ValueError:
        return None


def row_problems(data_type: str, row: Row) -> list[str]:
    """Why one row would be blocked on its own (empty mandatory value, bad date, end < start)."""
    problems = [f"{c} is empty" for c in MANDATORY[data_type] if not row[c]]
    for start_col, end_col in DATE_PAIRS[data_type]:
        start = _parse_date(row[start_col]) if row[start_col] else None
        end = _parse_date(row[end_col]) if row[end_col] else None
        if row[start_col] and start is None:
            problems.append(f"{start_col} invalid")
        if row[end_col] and end is None:
            problems.append(f"{end_col} invalid")
        if start and end and end < start:
            problems.append(f"{end_col} before {start_col}")
    return problems


def blocked_rows(data_type: str, rows: list[Row]) -> list[Row]:
    """The rows to be blocked: row problems, or a key shared with another row."""
    key = KEY_COLUMN[data_type]
    counts = Counter(row[key] for row in rows)
    return [r for r in rows if counts[r[key]] > 1 or row_problems(data_type, r)]


def check_consistency(rows_by_type: dict[str, list[Row]]) -> None:
    """Every valid row points at things that exist (and are valid) in the other samples."""
    valid = {
        data_type: [r for r in rows if r not in blocked_rows(data_type, rows)]
        for data_type, rows in rows_by_type.items()
    }
    titles = {r["title_id"]: r["title_name"] for r in valid["title"]}
    orgs = {r["org_unit_id"]: r for r in valid["organization"]}
    cost_centers = {r["cost_center_id"] for r in valid["costcenter"]}
    people = {
        r["employee_number"]: f"{r['first_name']} {r['last_name']}" for r in valid["workperiod"]
    }
    for cc in valid["costcenter"]:
        assert cc["owner_id"] in people, cc
    for org in valid["organization"]:
        assert org["parent_org_unit_id"] in ("", *orgs), org
        assert org["manager_id"] in ("", *people), org
        assert org["cost_center"] in cost_centers, org
    for wp in valid["workperiod"]:
        assert titles[wp["title_id"]] == wp["title_name"], wp
        assert orgs[wp["org_unit_id"]]["org_unit_name"] == wp["org_unit_name"], wp
        assert wp["cost_center"] in cost_centers | QUALITY_PROBLEMS["unknown_cost_centers"], wp
        assert people[wp["manager_id"]] == wp["manager_name"], wp
        assert wp["employment_type"] in ("permanent", "temporary", "hour-based", "external"), wp
        assert wp["user_type"] in ("internal", "external"), wp
        assert wp["is_manager"] in ("true", "false"), wp
    # One national_id per employee_number and vice versa, so unique_id may be either.
    pairs = {(r["employee_number"], r["national_id"]) for r in rows_by_type["workperiod"]}
    assert len({e for e, _ in pairs}) == len(pairs) == len({n for _, n in pairs})


def diff_by_key(old: list[Row], new: list[Row], key: str) -> tuple[list[str], list[str], list[str]]:
    """Return the (new, changed, removed) keys, comparing all rows that share a key."""

    def group(rows: list[Row]) -> dict[str, list[Row]]:
        grouped: dict[str, list[Row]] = {}
        for row in rows:
            grouped.setdefault(row[key], []).append(row)
        return grouped

    before, after = group(old), group(new)
    added = [k for k in after if k not in before]
    changed = [k for k in after if k in before and after[k] != before[k]]
    removed = [k for k in before if k not in after]
    return added, changed, removed


# ---------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="directory to write the sample tree into (default: the samples/ folder)",
    )
    out: Path = parser.parse_args(argv).out

    workperiods = build_workperiods()
    rows_by_type: dict[str, list[Row]] = {
        "costcenter": COSTCENTERS,
        "organization": ORGANIZATIONS,
        "title": TITLES,
        "workperiod": workperiods,
    }
    next_day = build_next_day(workperiods)
    check_consistency(rows_by_type)
    check_consistency({**rows_by_type, "workperiod": next_day})

    written: list[Path] = []
    print(f"{'data type':<21}{'rows':>5}{'bad':>5}  bad keys / next-day changes")
    for data_type, rows in rows_by_type.items():
        written += write_all_formats(out / data_type, data_type, rows)
        bad = blocked_rows(data_type, rows)
        bad_keys = list(dict.fromkeys(r[KEY_COLUMN[data_type]] for r in bad))
        assert bad_keys == list(BAD_KEYS[data_type]), (data_type, bad_keys)
        print(f"{data_type:<21}{len(rows):>5}{len(bad):>5}  {', '.join(bad_keys)}")

    written += write_all_formats(out / "workperiod" / "next_day", "workperiod", next_day)
    bad_next = blocked_rows("workperiod", next_day)
    assert bad_next == blocked_rows("workperiod", workperiods), "next day keeps the bad rows"
    added, changed, removed = diff_by_key(workperiods, next_day, "row_id")
    assert changed == list(NEXT_DAY_CHANGES), changed
    assert removed == NEXT_DAY_REMOVED, removed
    assert len(added) == len(NEXT_DAY_NEW), added
    print(
        f"{'workperiod/next_day':<21}{len(next_day):>5}{len(bad_next):>5}  "
        f"new {len(added)}: {', '.join(added)}; changed {len(changed)}: {', '.join(changed)}; "
        f"removed {len(removed)}: {', '.join(removed)}"
    )
    print(f"{len(written)} files written under {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
