#!/usr/bin/env python3
"""Deterministic, realistic workperiod files for the benchmark.

Why a generator and not the samples: the samples have 40 rows; the benchmark needs 10k, 100k and
1M rows that look like a real Workday export (all 19 workperiod columns in the samples' order,
Nordic names with non-ASCII letters, several work periods per person, past/current/future dates,
~0.5 % bad rows) and a "next day" file with ~1 % changed, 0.5 % new and 0.5 % removed rows, so a
partial run has realistic work to do.

Everything comes from one ``random.Random(SEED)``: the same parameters always give the same bytes.
Files land in ``bench/out/`` (gitignored) with a manifest of the parameters they were made with;
a file whose parameters did not change is not written again (1M-row files are large).

    .venv/bin/python bench/generate.py [--sizes 10,10k,100k,1M] [--force]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path

import orjson

from hr_connector.schemas import WORKPERIOD

OUT = Path(__file__).resolve().parent / "out"
#: Bump when the generated content changes, so cached files are rewritten.
GENERATOR_VERSION = 1
SEED = 20261126
WD_NAMESPACE = "urn:com.workday.report/HR_Export"
FORMATS = ("csv", "json", "xml")
VARIANTS = ("base", "next_day")

#: The workperiod schema's columns in the order of samples/workperiod/workperiod.csv.
COLUMNS = (
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
)
assert sorted(COLUMNS) == sorted(WORKPERIOD.attributes) and COLUMNS[0] == WORKPERIOD.key
C = {name: i for i, name in enumerate(COLUMNS)}

SIZES = {"10": 10, "10k": 10_000, "100k": 100_000, "300k": 300_000, "1M": 1_000_000}

BAD_RATE = 0.005
CHANGED_RATE = 0.01
NEW_RATE = 0.005
REMOVED_RATE = 0.005


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(text.split(sep))


FIRST_NAMES = _words(
    "Jyrki Åsa Mikko Sigrún Helena Elina Łukasz Päivi Bjørn Ville Aino Oskar Sanna Mats "
    "Kristiina Anders Göran Märta Sølvi Carl-Henrik Kåre Emilia Guðrún Tuula Jussi Essi "
    "Henrik Nanna Eetu Raili Noora Kalle Petra Frida Teemu Aleksi Åse Jönna Björn Øyvind "
    "Ásgeir Maija Leena Pekka Sakari Ingrid Solveig Torbjørn Ægir Lotta Linnéa Väinö Sámi "
    "Eyþór Hjördís Jörgen Kirsi Satu Antti Juha Tiina Minna Ari Kari Timo Heikki Riikka "
    "Siiri Ilmari Oona Veeti Ella"
)
SECOND_NAMES = (
    "",
    "",
    "",
    "Tapani",
    "Kristina",
    "Olavi",
    "Björk",
    "Maria",
    "Annikki",
    "Juhani",
    "Emil",
    "Helmi",
    "Louise",
    "Sofia",
    "Kaarina",
    "Aurora",
    "Ilmari",
    "Sofie",
)
LAST_NAMES = _words(
    "Mäkelä Öberg Äijälä Þórsdóttir Sørensen Järvinen Nowak Hämäläinen Østergaard Könönen "
    "Söderström Lindqvist Pölönen Ødegård Ylä-Outinen Bäckström Åkesson Ängström Brække "
    "Hälleberg Løvås Ståhlberg Jónsdóttir Ylönen Närhi Kärkkäinen Åberg Østby Väänänen "
    "Hyvärinen Ryynänen Sjöholm Åström Ärölä Räsänen Kjærnes Virtanen Korhonen Nieminen "
    "Mäkinen Hämäläinen Laine Heikkinen Koskinen Järvelä Lehtonen Saarinen Salminen Heinonen "
    "Niemi Heikkilä Kinnunen Salonen Turunen Salo Laitinen Tuominen Rantanen Karjalainen "
    "Jokinen Mattila Savolainen Lahtinen Ahonen Åhlén Grönqvist Sjöström Nyström Forsström "
    "Ekström Strömberg Dahlström Sæther Bråten Haugen Ørsted Þórarinsson Guðmundsdóttir "
    "Ólafsson Kristjánsdóttir"
)
SPOKEN = ("", "", "", "", "", "", "", "", "Kiia", "Calle", "Jusa", "Pete", "Mikke", "Lotte")

TITLE_WORDS = _words(
    "Ohjelmistokehittäjä Kirjanpitäjä Järjestelmäasiantuntija Säljare Asiakaspalvelija "
    "Tiiminvetäjä Konsult Ekonomichef Försäljningschef HR-asiantuntija Palkanlaskija "
    "Varastotyöntekijä Sairaanhoitaja Lähihoitaja Rakennusmestari Projektipäällikkö "
    "Utvecklare Lagerarbetare Sjuksköterska Økonomisjef Prosjektleder Rådgiver Analytiker "
    "Arkitekt"
)
LEVELS = ("", "Senior ", "Junior ", "Lead ", "Principal ")
UNIT_WORDS = _words(
    "Talous ja hallinto|HR & People|Ohjelmistokehitys|Infrastruktuuri & tietoturva|"
    "Sales; Nordics|Försäljning Sverige|Salg Norge|Asiakaspalvelu|Tutkimus & kehitys|"
    "Logistiikka|Lager & distribution|Hankinta|Markkinointi|Viestintä|Juridik|Kvalitet|"
    "Tuotanto|Huolto",
    "|",
)
CITIES = (
    "Helsinki",
    "Tampere",
    "Oulu",
    "Turku",
    "Espoo",
    "Stockholm",
    "Göteborg",
    "Malmö",
    "Oslo",
    "Bergen",
    "Trondheim",
    "København",
    "Aarhus",
    "Reykjavík",
    "Jyväskylä",
    "Umeå",
)
EMPLOYMENT_TYPES = ("permanent", "permanent", "permanent", "temporary", "hour-based", "external")

_CHECK_CHARS = "0123456789ABCDEFHJKLMNPRSTUVWXY"
_CENTURY_SIGN = {18: "+", 19: "-", 20: "A"}
TODAY = date(2026, 11, 26).toordinal()

Row = list[str]


def finnish_national_id(born: date, individual: int) -> str:
    """A check-valid Finnish ID with an individual number 900-999 (temporary IDs, never real)."""
    check = _CHECK_CHARS[int(f"{born:%d%m%y}{individual:03d}") % 31]
    return f"{born:%d%m%y}{_CENTURY_SIGN[born.year // 100]}{individual:03d}{check}"


class Reference:
    """The titles and org units the work periods point at (a few hundred of each)."""

    def __init__(self, rng: random.Random) -> None:
        self.titles = [
            (f"T{1000 + i}", f"{rng.choice(LEVELS)}{rng.choice(TITLE_WORDS)}".strip())
            for i in range(300)
        ]
        self.units = [
            (
                f"OU{1000 + i}",
                f"{rng.choice(UNIT_WORDS)} {rng.choice(CITIES)}",
                f"CC{2000 + i // 4}",
            )
            for i in range(800)
        ]


class Dates:
    """ISO text of day ordinals, cached: a million rows share a few thousand distinct dates."""

    def __init__(self) -> None:
        self._cache: dict[int, str] = {}

    def __call__(self, ordinal: int) -> str:
        text = self._cache.get(ordinal)
        if text is None:
            text = self._cache[ordinal] = date.fromordinal(ordinal).isoformat()
        return text


def _person_periods(
    rng: random.Random, ref: Reference, dates: Dates, number: int, managers: list[tuple[str, str]]
) -> list[Row]:
    """One person's work periods, oldest first; the last one is current, ended or future."""
    first = rng.choice(FIRST_NAMES)
    last = rng.choice(LAST_NAMES)
    employee = f"E{1_000_000 + number}"
    born = date.fromordinal(
        rng.randrange(date(1955, 1, 1).toordinal(), date(2006, 1, 1).toordinal())
    )
    national = finnish_national_id(born, rng.randrange(900, 1000))
    second = rng.choice(SECOND_NAMES)
    spoken = rng.choice(SPOKEN)
    count = rng.choices((1, 2, 3, 4), weights=(55, 25, 15, 5))[0]
    start = rng.randrange(TODAY - 9000, TODAY + 200)
    manager_id, manager_name = rng.choice(managers) if managers else (employee, f"{first} {last}")
    is_manager = rng.random() < 0.08
    rows: list[Row] = []
    for k in range(count):
        last_period = k == count - 1
        length = rng.randrange(60, 1500)
        if last_period:
            end = "" if rng.random() < 0.7 else dates(start + length)
        else:
            end = dates(start + length)
        title_id, title_name = rng.choice(ref.titles)
        unit_id, unit_name, cost_center = rng.choice(ref.units)
        kind = rng.choice(EMPLOYMENT_TYPES)
        rows.append(
            [
                "",  # row_id, assigned in file order
                employee,
                national,
                first,
                second,
                spoken,
                last,
                dates(start),
                end,
                kind,
                "external" if kind == "external" else "internal",
                "true" if is_manager and last_period else "false",
                title_id,
                title_name,
                unit_id,
                unit_name,
                cost_center,
                manager_id,
                manager_name,
            ]
        )
        start += length + 1
    if is_manager:
        managers.append((employee, f"{first} {last}"))
    return rows


def _spoil(rng: random.Random, rows: list[Row], dates: Dates) -> int:
    """Make ~BAD_RATE of the rows bad, in the ways the validator must catch; return the count."""
    picks = rng.sample(range(1, len(rows)), max(1, int(len(rows) * BAD_RATE * 0.8)))
    for i in picks:
        row = rows[i]
        kind = rng.randrange(5)
        if kind == 0:  # empty mandatory value
            row[C[rng.choice(("last_name", "first_name", "title_id", "org_unit_id"))]] = ""
        elif kind == 1:  # a date that does not exist / a foreign format
            row[C["employment_start_date"]] = rng.choice(("2025-02-30", "31.12.2025", "2025-13-01"))
        elif kind == 2:  # end before start
            start = date.fromisoformat(row[C["employment_start_date"]]).toordinal()
            row[C["employment_end_date"]] = dates(start - rng.randrange(1, 90))
        elif kind == 3:  # the unique person ID missing
            row[C["employee_number"]] = ""
        else:  # the row ID of the previous row (both rows are blocked)
            row[C["row_id"]] = rows[i - 1][C["row_id"]]
    return len(picks)


def build_base(rows_wanted: int, seed: int = SEED) -> list[Row]:
    rng = random.Random(seed)
    ref = Reference(rng)
    dates = Dates()
    rows: list[Row] = []
    managers: list[tuple[str, str]] = []
    number = 0
    while len(rows) < rows_wanted:
        rows.extend(_person_periods(rng, ref, dates, number, managers))
        number += 1
    del rows[rows_wanted:]
    for i, row in enumerate(rows):
        row[0] = f"WP-{i + 1:07d}"
    if rows_wanted >= 10:
        _spoil(rng, rows, dates)
    return rows


def build_next_day(base: list[Row], seed: int = SEED) -> list[Row]:
    """~1 % changed, ~0.5 % removed (both among rows that stay in place), ~0.5 % new (appended)."""
    rng = random.Random(seed + 1)
    ref = Reference(random.Random(seed))  # the same titles and units as the base file
    dates = Dates()
    n = len(base)
    removed = set(rng.sample(range(n), int(n * REMOVED_RATE)))
    changed = set(rng.sample(range(n), int(n * CHANGED_RATE))) - removed
    out: list[Row] = []
    for i, row in enumerate(base):
        if i in removed:
            continue
        if i in changed:
            row = list(row)
            what = rng.randrange(3)
            if what == 0:  # resigns
                row[C["employment_end_date"]] = dates(TODAY + rng.randrange(30, 200))
            elif what == 1:  # promoted / moved
                row[C["title_id"]], row[C["title_name"]] = rng.choice(ref.titles)
            else:
                unit = rng.choice(ref.units)
                row[C["org_unit_id"]], row[C["org_unit_name"]], row[C["cost_center"]] = unit
        out.append(row)
    managers = [(r[C["manager_id"]], r[C["manager_name"]]) for r in base[:1000]]
    new_rows: list[Row] = []
    number = 5_000_000
    while len(new_rows) < int(n * NEW_RATE):
        new_rows.extend(_person_periods(rng, ref, dates, number, managers))
        number += 1
    del new_rows[int(n * NEW_RATE) :]
    for k, row in enumerate(new_rows, start=1):
        row[0] = f"WP-{n + k:07d}"
    return out + new_rows


# --- writers: each streams in batches, so 1M rows need no second copy in memory -----------------


def _batches(rows: list[Row], size: int = 20_000) -> Iterator[list[Row]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def write_csv(path: Path, rows: list[Row]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)


def write_json(path: Path, rows: list[Row]) -> None:
    """Workday style: ``{"Report_Entry": [...]}``, one compact record per line, all strings."""
    dumps = orjson.dumps
    with path.open("wb") as fh:
        fh.write(b'{"Report_Entry": [\n')
        first = True
        for batch in _batches(rows):
            text = b",\n".join(dumps(dict(zip(COLUMNS, r, strict=True))) for r in batch)
            fh.write(text if first else b",\n" + text)
            first = False
        fh.write(b"\n]}\n")


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml_entry(
    row: Row, opens: tuple[str, ...], closes: tuple[str, ...], empties: tuple[str, ...]
) -> str:
    parts = ["  <wd:Report_Entry>\n"]
    for value, op, cl, empty in zip(row, opens, closes, empties, strict=True):
        parts.append(f"{op}{value}{cl}" if value else empty)
    parts.append("  </wd:Report_Entry>\n")
    return "".join(parts)


def write_xml(path: Path, rows: list[Row]) -> None:
    """Workday style: namespaced, one element per field, an empty value as an empty element."""
    opens = tuple(f"    <wd:{c}>" for c in COLUMNS)
    closes = tuple(f"</wd:{c}>\n" for c in COLUMNS)
    empties = tuple(f"    <wd:{c}/>\n" for c in COLUMNS)
    with path.open("w", encoding="utf-8") as fh:
        fh.write(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<wd:Report_Data xmlns:wd="{WD_NAMESPACE}">\n'
        )
        for batch in _batches(rows):
            chunk = []
            for row in batch:
                joined = "\x1f".join(row)
                if "&" in joined or "<" in joined or ">" in joined:
                    row = [_xml_escape(v) for v in row]
                chunk.append(_xml_entry(row, opens, closes, empties))
            fh.write("".join(chunk))
        fh.write("</wd:Report_Data>\n")


WRITERS = {"csv": write_csv, "json": write_json, "xml": write_xml}


# --- cache -------------------------------------------------------------------------------------


def file_path(size: str, variant: str, fmt: str, out: Path = OUT) -> Path:
    """``bench/out/<size>/<variant>/workperiod.<fmt>`` (the connector's file pattern)."""
    return out / size / variant / f"workperiod.{fmt}"


def _parameters(size: str) -> dict[str, object]:
    return {
        "version": GENERATOR_VERSION,
        "seed": SEED,
        "rows": SIZES[size],
        "rates": [BAD_RATE, CHANGED_RATE, NEW_RATE, REMOVED_RATE],
    }


def _manifest_path(size: str, out: Path) -> Path:
    return out / size / "manifest.json"


def _up_to_date(size: str, out: Path) -> bool:
    manifest = _manifest_path(size, out)
    if not manifest.exists():
        return False
    recorded = json.loads(manifest.read_text(encoding="utf-8"))
    if recorded.get("parameters") != _parameters(size):
        return False
    files = recorded.get("files", {})
    for variant in VARIANTS:
        for fmt in FORMATS:
            path = file_path(size, variant, fmt, out)
            if not path.exists() or files.get(f"{variant}/{fmt}") != path.stat().st_size:
                return False
    return True


def generate(size: str, out: Path = OUT, force: bool = False, log: bool = True) -> list[Path]:
    """Write the six files of one size (2 variants × 3 formats) unless they are up to date."""
    paths = [file_path(size, v, f, out) for v in VARIANTS for f in FORMATS]
    if not force and _up_to_date(size, out):
        if log:
            print(f"{size}: up to date ({paths[0].parent.parent})")
        return paths
    began = time.perf_counter()
    base = build_base(SIZES[size])
    variants = {"base": base, "next_day": build_next_day(base)}
    files: dict[str, int] = {}
    for variant, rows in variants.items():
        for fmt in FORMATS:
            path = file_path(size, variant, fmt, out)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".partial")
            t0 = time.perf_counter()
            WRITERS[fmt](tmp, rows)
            tmp.replace(path)
            files[f"{variant}/{fmt}"] = path.stat().st_size
            if log:
                print(
                    f"{size} {variant:8s} {fmt}: {len(rows):>9,} rows, "
                    f"{path.stat().st_size / 1e6:8.1f} MB in {time.perf_counter() - t0:5.1f} s"
                )
    _manifest_path(size, out).write_text(
        json.dumps({"parameters": _parameters(size), "files": files}, indent=2) + "\n",
        encoding="utf-8",
    )
    if log:
        print(f"{size}: generated in {time.perf_counter() - began:.1f} s")
    return paths


def parse_sizes(text: str) -> list[str]:
    sizes = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        raise SystemExit(f"unknown size(s) {unknown}; known: {', '.join(SIZES)}")
    return sizes


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,10k,100k,1M", help="comma-separated: 10,10k,100k,1M")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--force", action="store_true", help="rewrite even up-to-date files")
    args = parser.parse_args(list(argv) if argv is not None else None)
    for size in parse_sizes(args.sizes):
        generate(size, args.out, args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
