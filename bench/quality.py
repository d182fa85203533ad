#!/usr/bin/env python3
"""The data-quality checks timed in one process, on million-row tables of several distributions.

    .venv/bin/python bench/quality.py [--rows 1000000] [--repeat 5] [--before src-layout]

Each distribution runs in a fresh process that builds the table the checks get (the file's
columns as text; null = no such field) and then times each row-level check ``--repeat`` times
over every row (median, min, max): the reference checks against ID sets held in memory (every
organization, title and cost-center ID of the file but 1 %), cycles, overlaps, and national IDs
(``national_id_country`` ``fi``: opt-in, so apart from the default total).

* ``generator``: ``bench/generate.py``'s work periods (several periods per person, ~0.5 % bad
  rows, a manager tree whose root manages itself);
* ``overlaps``: 17 % of the persons with overlapping periods (same-day boundaries too), a
  manager hierarchy 12 levels deep, each manager drawn at random from the level above;
* ``random-managers``: the same periods, each person's manager drawn at random from all persons
  (a random mapping: chains hundreds deep, a few long loops);
* ``wide``: 36-character IDs and five extra columns of 200-character values (with no carry-over
  between runs, how many rows changed since yesterday does not change the checks' work).

``--before REF`` also times the overlap and cycle functions of the checks at git revision REF
(row lists, Python sets), alternated with today's in the same process on the same columns.
Results go to stdout and ``bench/quality_results.md``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "quality_results.md"
DISTRIBUTIONS = ("generator", "overlaps", "random-managers", "wide")
CHECKS = ("references", "cycles", "overlaps", "national_ids")
DAY0 = date(2000, 1, 1).toordinal()


def memory_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (the peak since :func:`reset_peak`) of this process."""
    with open("/proc/self/status") as fh:
        line = next(x for x in fh if x.startswith(f"{field}:"))
    return int(line.split()[1]) / 1024


def reset_peak() -> None:
    """Start the peak RSS (``VmHWM``) again from the RSS now (Linux ``clear_refs``)."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


# --- the distributions ----------------------------------------------------------------------


def generator_rows(n: int) -> pl.DataFrame:
    sys.path.insert(0, str(BENCH))
    import generate

    rows = generate.build_base(n)
    columns = list(zip(*rows, strict=True))
    return pl.DataFrame(
        {c: pl.Series(v, dtype=pl.String) for c, v in zip(generate.COLUMNS, columns, strict=True)}
    )


def _periods(
    n: int, rng: random.Random, overlap_share: float, long_ids: bool
) -> dict[str, list[Any]]:
    """Persons with 1-4 periods; ``overlap_share`` of the persons have two that overlap."""
    from generate import finnish_national_id

    def ident(prefix: str, k: int) -> str:  # the same entity, the same (long) ID
        if not long_ids:
            return f"{prefix}{k}"
        return f"{prefix}-{k:08d}-{hashlib.blake2b(f'{prefix}{k}'.encode()).hexdigest()[:16]}"

    cols: dict[str, list[Any]] = {
        c: [] for c in ("row_id", "person", "national_id", "start", "end", "org", "title", "cc")
    }
    person = 0
    while len(cols["row_id"]) < n:
        count = rng.choices((1, 2, 3, 4), weights=(50, 30, 15, 5))[0]
        overlapping = count > 1 and rng.random() < overlap_share * 2
        start = DAY0 + rng.randrange(9000)
        national = finnish_national_id(
            date.fromordinal(rng.randrange(715000, 732000)), rng.randrange(900, 1000)
        )
        pid = ident("E", person)
        for k in range(count):
            length = rng.randrange(30, 1200)
            last = k == count - 1
            end = (
                "" if last and rng.random() < 0.7 else date.fromordinal(start + length).isoformat()
            )
            cols["row_id"].append(ident("WP", len(cols["row_id"])))
            cols["person"].append(pid)
            cols["national_id"].append(national)
            cols["start"].append(date.fromordinal(start).isoformat())
            cols["end"].append(end)
            unit = rng.randrange(800)
            cols["org"].append(ident("OU", unit))
            cols["title"].append(ident("T", rng.randrange(300)))
            cols["cc"].append(ident("CC", unit // 4))
            step = length + 1
            if overlapping and k == 0:
                step = length - rng.choice((0, 0, 5, 40))  # 0: the next starts the day this ends
            start += max(step, 1)
        person += 1
    return {k: v[:n] for k, v in cols.items()}


def _frame(
    cols: dict[str, list[Any]],
    managers: list[str],
    extra: int = 0,
    rng: random.Random | None = None,
) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "row_id": cols["row_id"],
            "employee_number": cols["person"],
            "national_id": cols["national_id"],
            "employment_start_date": cols["start"],
            "employment_end_date": cols["end"],
            "title_id": cols["title"],
            "org_unit_id": cols["org"],
            "cost_center": cols["cc"],
            "manager_id": managers,
        }
    )
    if extra and rng is not None:
        words = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyzåäö ", k=200)) for _ in range(5000)]
        frame = frame.with_columns(
            pl.Series(f"extra_{k}", rng.choices(words, k=frame.height), dtype=pl.String)
            for k in range(extra)
        )
    return frame


def hierarchy(persons: list[str], rng: random.Random, levels: int = 13) -> dict[str, str]:
    """Each distinct person's manager, drawn at random from the level above: a narrow top
    (level k holds 3^k persons, the last level the rest), the top person managed by nobody."""
    distinct = list(dict.fromkeys(persons))
    bounds, start = [], 0
    for k in range(levels):
        end = len(distinct) if k == levels - 1 else min(len(distinct), start + 3**k)
        bounds.append((start, end))
        start = end
    manager = {distinct[0]: ""}
    for k in range(1, levels):
        lo, hi = bounds[k - 1]
        for i in range(*bounds[k]):
            manager[distinct[i]] = distinct[rng.randrange(lo, hi)]
    return manager


def build(name: str, n: int) -> pl.DataFrame:
    sys.path.insert(0, str(BENCH))
    rng = random.Random(f"quality-{name}")
    if name == "generator":
        return generator_rows(n)
    cols = _periods(n, rng, 0.17 if name != "wide" else 0.05, long_ids=name == "wide")
    if name == "random-managers":
        distinct = list(dict.fromkeys(cols["person"]))
        boss = {p: rng.choice(distinct) for p in distinct}
    else:
        boss = hierarchy(cols["person"], rng)
    return _frame(cols, [boss[p] for p in cols["person"]], 5 if name == "wide" else 0, rng)


# --- timing ---------------------------------------------------------------------------------


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], list[float], Any]:
    """Wall seconds and CPU seconds (every thread of the process) of each call, and its result."""
    times, cpu, result = [], [], None
    for _ in range(repeat):
        began, began_cpu = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
    return times, cpu, result


def context(frame: pl.DataFrame, check: str) -> Any:
    from hr_connector.quality.settings import CheckContext, QualitySettings
    from hr_connector.schemas import WORKPERIOD, RunSchema

    columns = {a: a for a in WORKPERIOD.attributes}
    known = {
        dt: frame[col].unique().sort()[: -max(1, frame[col].n_unique() // 100)]
        for dt, col in (
            ("organization", "org_unit_id"),
            ("title", "title_id"),
            ("costcenter", "cost_center"),
        )
    }
    schema = RunSchema("workperiod", columns, "row_id", (), (), (), (), (), ("%Y-%m-%d",), None)
    settings = QualitySettings(severity={}, national_id_country="fi")
    nowhere = Path("/nonexistent")
    return CheckContext(
        settings,
        schema,
        "employee_number",
        nowhere,
        nowhere,
        imported=lambda _folder, dt, _col: known.get(dt),
    )


def before_functions(ref: str) -> dict[str, types.ModuleType]:
    """The overlap and cycle modules of revision ``ref`` (their own API: row lists)."""
    modules = {}
    for name in ("overlaps", "cycles"):
        source = subprocess.run(
            ["git", "show", f"{ref}:src/hr_connector/quality/{name}.py"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        module = types.ModuleType(f"before_{name}")
        exec(compile(source, f"{ref}:{name}.py", "exec"), module.__dict__)
        modules[name] = module
    return modules


def child(name: str, n: int, repeat: int, before: str | None) -> dict[str, Any]:
    from hr_connector.quality import cycles, national_ids, overlaps, references
    from hr_connector.quality.findings import CheckRun
    from hr_connector.rules import DateParser

    began = time.perf_counter()
    frame = build(name, n)
    built_s = time.perf_counter() - began
    gc.collect()
    reset_peak()  # the checks' peak, not the build's
    base_mb = memory_mb("VmRSS")
    out: dict[str, Any] = {
        "distribution": name,
        "rows": frame.height,
        "build_s": built_s,
        "frame_mb": base_mb,
    }
    ctx = context(frame, "all")
    finders = {
        "references": references.find,
        "cycles": cycles.find,
        "overlaps": overlaps.find,
        "national_ids": national_ids.find,
    }
    for check, find in finders.items():
        times, cpu, found = timed(
            lambda f=find, c=check: f(frame, ctx, CheckRun(c, "warn")), repeat
        )
        findings = found["finding"].n_unique() if "finding" in found.columns else found.height
        out[check] = {"times": times, "cpu": cpu, "findings": findings}
    out["peak_mb"] = memory_mb("VmHWM")
    if before:
        old = before_functions(before)
        persons = frame["employee_number"].to_list()
        starts = frame["employment_start_date"].to_list()
        ends = frame["employment_end_date"].to_list()
        managers = frame["manager_id"].to_list()
        parse = DateParser(("%Y-%m-%d",))
        pairs = [
            (
                "overlaps",
                lambda: old["overlaps"].overlapping(
                    persons, starts, ends, DateParser(("%Y-%m-%d",))
                ),
                lambda: overlaps.overlapping(
                    frame["employee_number"],
                    frame["employment_start_date"],
                    frame["employment_end_date"],
                    parse,
                ),
            ),
            (
                "cycles",
                lambda: old["cycles"].find_cycles(persons, managers),
                lambda: cycles.find_cycles(frame["employee_number"], frame["manager_id"]),
            ),
        ]
        for check, was, now in pairs:
            runs: dict[str, list[float]] = {
                "before": [],
                "now": [],
                "before_cpu": [],
                "now_cpu": [],
            }
            for _ in range(repeat):  # alternated: the machine's noise hits both alike
                for key, fn in (("before", was), ("now", now)):
                    wall, cpu, _found = timed(fn, 1)
                    runs[key] += wall
                    runs[f"{key}_cpu"] += cpu
            out[f"before_{check}"] = runs
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--before", help="git revision whose overlap and cycle functions to time beside"
    )
    parser.add_argument("--only", nargs="*", choices=DISTRIBUTIONS, default=list(DISTRIBUTIONS))
    parser.add_argument("--child", choices=DISTRIBUTIONS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(
            "RESULT " + json.dumps(child(args.child, args.rows, args.repeat, args.before)),
            flush=True,
        )
        return
    load_before = os.getloadavg()[0]
    results = []
    for name in args.only:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            name,
            "--rows",
            str(args.rows),
            "--repeat",
            str(args.repeat),
        ]
        if args.before:
            cmd += ["--before", args.before]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
        results.append(json.loads(line[7:]))
        print(f"{name}: done", file=sys.stderr, flush=True)
    report = render(results, args, load_before, os.getloadavg()[0])
    print(report)
    RESULTS.write_text(report, encoding="utf-8")


def render(
    results: list[dict[str, Any]], args: argparse.Namespace, load_before: float, load_after: float
) -> str:
    def med(times: list[float]) -> str:
        return f"{statistics.median(times):.3f}"

    command = f".venv/bin/python bench/quality.py --rows {args.rows} --repeat {args.repeat}"
    if args.before:
        command += f" --before {args.before}"
    lines = [
        "# Data-quality checks, in one process",
        "",
        f"Command: `{command}`",
        "",
        f"{os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}, "
        f"polars {pl.__version__}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average "
        f"{load_before:.1f} before, {load_after:.1f} after (a shared machine: compare within a "
        "row).",
        "",
        f"Per check over every row, median of {args.repeat}: wall seconds (min–max), CPU seconds "
        "of all the process's threads (steadier on a shared machine), findings. The default "
        "checks are references, cycles and overlaps; national IDs run when `national_id_country` "
        "is set.",
        "",
        "| distribution | rows | references | cycles | overlaps | default total "
        "| national IDs (fi) | RSS with the table MB | peak RSS during the checks MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        cells = []
        for check in CHECKS:
            t, cpu = r[check]["times"], r[check]["cpu"]
            cells.append(
                f"{med(t)} ({min(t):.2f}–{max(t):.2f}), CPU {med(cpu)}; {r[check]['findings']:,}"
            )
        total = sum(statistics.median(r[c]["times"]) for c in CHECKS[:3])
        total_cpu = sum(statistics.median(r[c]["cpu"]) for c in CHECKS[:3])
        lines.append(
            f"| {r['distribution']} | {r['rows']:,} | {cells[0]} | {cells[1]} | {cells[2]} | "
            f"{total:.3f}, CPU {total_cpu:.3f} | {cells[3]} | {r['frame_mb']:.0f} "
            f"| {r['peak_mb']:.0f} |"
        )
    if args.before:
        lines += [
            "",
            f"Side by side with the functions at `{args.before}` (row lists and Python sets), "
            "alternated in the same process on the same columns; median seconds, wall and CPU:",
            "",
            "| distribution | check | wall before / now | wall ratio | CPU before / now "
            "| CPU ratio |",
            "|---|---|---|---|---|---|",
        ]
        for r in results:
            for check in ("overlaps", "cycles"):
                m = {k: statistics.median(v) for k, v in r[f"before_{check}"].items()}
                lines.append(
                    f"| {r['distribution']} | {check} | {m['before']:.3f} / {m['now']:.3f} "
                    f"| {m['before'] / m['now']:.1f}× | {m['before_cpu']:.3f} / {m['now_cpu']:.3f} "
                    f"| {m['before_cpu'] / m['now_cpu']:.1f}× |"
                )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
