#!/usr/bin/env python3
"""Work-period files of several shapes, a day and its next day, for the benchmark (bench/day.py).

One distribution the connector was tuned on, and three it was not:

* ``standard``: ``generate.py``'s files (19 columns, ~0.5 % bad rows; next day 1 % changed,
  0.5 % new, 0.5 % removed);
* ``chains``: many persons with overlapping work periods (about 20 %) and managers in long chains
  (each person's manager is the previous person of a chain of 5,000, a few chains closed into a
  loop); next day 1 % changed;
* ``wide``: 28 columns, the nine extra ones long free text (up to 50 characters); next day 30 %
  changed, 5 % removed, 5 % new rows;
* ``quoted``: what another HR system writes: every field quoted, CRLF line ends, five extra
  columns, a manager tree, 3 % blocked rows (a missing name, an impossible date, end before start),
  exotic values (line breaks and ``;`` inside values, quotes, emoji, ``=`` formulas); next day
  30 % changed, 5 % removed, 5 % new.

Deterministic (one seed); files land in ``bench/out/<distribution>-<size>/`` and are reused when
their parameters did not change.

    .venv/bin/python bench/distributions.py --sizes 1M [--only quoted]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate

OUT = generate.OUT
VERSION = 2
COLUMNS = list(generate.COLUMNS)
Row = list[str]


def _standard(n: int, rng: random.Random) -> tuple[list[str], list[Row], list[Row]]:
    base = generate.build_base(n)
    return COLUMNS, [list(r) for r in base], [list(r) for r in generate.build_next_day(base)]


def _person_row(i: int, person: int, manager: int, start: str, end: str, extra: list[str]) -> Row:
    return [
        f"WP-{i:08d}", f"E{person:07d}", "", f"Etu{person % 977}", "", "", f"Suku{person % 4099}",
        start, end, "permanent", "internal", "false", f"T{person % 500:03d}", "Title",
        f"OU{person % 300:04d}", "Unit", f"CC{person % 150:03d}", f"E{manager:07d}", "",
        *extra,
    ]  # fmt: skip


def _chains(n: int, rng: random.Random) -> tuple[list[str], list[Row], list[Row]]:
    rows: list[Row] = []
    person = 0
    while len(rows) < n:
        chain_head = person - person % 5000
        manager = person - 1 if person > chain_head else chain_head + 4999
        if person % 5000 == 0 and person % 50_000:  # most chains end at the top
            manager = person
        periods = rng.choice((1, 1, 2, 3))
        for k in range(periods):
            year = 2020 + k * 2
            overlap = rng.random() < 0.2 and k > 0
            start = f"{year - (1 if overlap else 0)}-{rng.randint(1, 12):02d}-01"
            end = "" if k == periods - 1 else f"{year + 1}-12-31"
            rows.append(_person_row(len(rows), person, manager, start, end, []))
        person += 1
    rows = rows[:n]
    return COLUMNS, rows, _next_day(rows, rng, changed=0.01, removed=0.005, new=0.005)


def _wide(n: int, rng: random.Random) -> tuple[list[str], list[Row], list[Row]]:
    extra = [f"attribute_{k:02d}" for k in range(9)]
    words = [f"{w}{k}" for k in range(50) for w in ("alpha", "beeta", "gamma", "delta", "omega")]
    rows: list[Row] = []
    for i in range(n):
        long = [" ".join(rng.choices(words, k=rng.randint(1, 7))) for _ in extra]
        rows.append(_person_row(i, i, i // 10, "2024-01-01", "", long))
    return COLUMNS + extra, rows, _next_day(rows, rng, changed=0.30, removed=0.05, new=0.05)


EXOTIC = ["Ääkkönen", "O'Brien \"Bob\"", "Line\r\nbreak", "semi;colon", "=HYPERLINK(\"x\")",
          "😀 emoji", "+1-555", "@handle", "  padded  ", "Łódź", "tab\tinside", "Ærø"]  # fmt: skip


def _quoted(n: int, rng: random.Random) -> tuple[list[str], list[Row], list[Row]]:
    extra = ["Location", "Phone", "Email", "Grade", "Comment"]
    rows: list[Row] = []
    for i in range(n):
        manager = 0 if i == 0 else rng.randrange(max(1, i // 8), i) if i > 8 else 0
        comment = rng.choice(EXOTIC) if rng.random() < 0.3 else "ok"
        city = rng.choice(EXOTIC[:5]) if rng.random() < 0.1 else f"City{i % 97}"
        more = [city, f"+358 40 {i:07d}", f"p{i}@example.com", str(rng.randint(1, 12)), comment]
        row = _person_row(
            i, i, manager, f"20{rng.randint(10, 24)}-0{rng.randint(1, 9)}-15", "", more
        )
        row[3] = rng.choice(EXOTIC) if rng.random() < 0.05 else row[3]
        spoil = rng.random()
        if spoil < 0.01:
            row[6] = ""  # a missing last name
        elif spoil < 0.02:
            row[7] = "2024-02-30"  # no such day
        elif spoil < 0.03:
            row[8] = "2001-01-01"  # ends before it starts
        rows.append(row)
    return COLUMNS + extra, rows, _next_day(rows, rng, changed=0.30, removed=0.05, new=0.05)


def _next_day(
    rows: list[Row], rng: random.Random, changed: float, removed: float, new: float
) -> list[Row]:
    out: list[Row] = []
    for row in rows:
        draw = rng.random()
        if draw < removed:
            continue
        if draw < removed + changed:
            row = list(row)
            row[12] = f"T{rng.randrange(500):03d}"  # a new title
            row[16] = f"CC{rng.randrange(150):03d}"
        out.append(row)
    width = len(rows[0])
    for k in range(int(len(rows) * new)):
        person = 10_000_000 + k
        out.append(_person_row(person, person, 1, "2026-12-01", "", ["x"] * (width - 19)))
    return out


DISTRIBUTIONS: dict[str, Callable[[int, random.Random], tuple[list[str], list[Row], list[Row]]]] = {
    "standard": _standard,
    "chains": _chains,
    "wide": _wide,
    "quoted": _quoted,
}


def write_csv(path: Path, columns: list[str], rows: list[Row], quoted: bool) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(
            fh,
            delimiter=";",
            lineterminator="\r\n" if quoted else "\n",
            quoting=csv.QUOTE_ALL if quoted else csv.QUOTE_MINIMAL,
        )
        writer.writerow(columns)
        writer.writerows(rows)


def files(name: str, size: str, formats: tuple[str, ...] = ("csv",)) -> dict[str, dict[str, Path]]:
    """{variant: {format: path}} of a distribution at a size; formats not yet written (or
    written by another version of this module) are generated."""
    folder = OUT / f"{name}-{size}"
    stamp = folder / "manifest.json"
    version = {"version": VERSION, "generator": generate.GENERATOR_VERSION}
    kept = json.loads(stamp.read_text()) if stamp.exists() else {}
    done = set(kept.get("formats", [])) if kept.get("version") == version else set()
    paths = {v: {f: folder / v / f"workperiod.{f}" for f in formats} for v in ("base", "next_day")}
    missing = [f for f in formats if f not in done]
    if not missing:
        return paths
    rng = random.Random(f"{generate.SEED}-{name}")
    columns, base, next_day = DISTRIBUTIONS[name](generate.SIZES[size], rng)
    for variant, rows in (("base", base), ("next_day", next_day)):
        (folder / variant).mkdir(parents=True, exist_ok=True)
        for fmt in missing:
            path = paths[variant][fmt]
            if fmt == "csv":
                write_csv(path, columns, rows, quoted=name == "quoted")
            else:
                generate.WRITERS[fmt](path, [tuple(r) for r in rows])
    stamp.write_text(json.dumps({"version": version, "formats": sorted(done | set(missing))}))
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10k")
    parser.add_argument("--only", default=",".join(DISTRIBUTIONS))
    args = parser.parse_args(argv)
    for size in args.sizes.split(","):
        for name in args.only.split(","):
            print(name, size, files(name, size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
