#!/usr/bin/env python3
"""Benchmark of issue 16: a work-period import with the data-quality checks on beside off.

    .venv/bin/python bench/quality.py [--size 1M] [--repeat 3] [--format csv]

Per repeat, the two settings run side by side (off, then on), each in a fresh working
directory that already holds organization, title and cost-center archives with every ID the
file uses (built from the file, untimed), so the reference checks really look them up:

* full: ``pipeline.run_import`` (plain steps, ``LocalOnlySink``) of the day's file;
* partial: the next-day file after that full run (the archive index matches ~98 % of the rows);
* full_next: a full run (``run_type`` full) of the first day's file again after that partial
  run: a full run on a day that has a previous run (a ~2 % change), as customers who import
  in full every day run it; the fast path and the checks' kept findings apply as in a partial
  run.

"off" sets every check to ``off``; "on" sets every check to ``warn`` with
``national_id_country`` ``fi`` (the generator's IDs are Finnish) and ``max_file_age_hours``
(so the file-level checks, SHA-256 included, run too). Each measurement is a fresh
subprocess (wall time inside it, around the measured call). The medians and on/off ratios are
printed and written to ``bench/quality_results.md`` with the machine's load.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import generate  # noqa: E402
import run as bench_run  # noqa: E402

RESULTS = BENCH / "quality_results.md"
CHECKS_OFF = {
    name: "off"
    for name in ("references", "cycles", "overlaps", "national_ids", "same_file", "file_age")
}
CHECKS_ON = {name: "warn" for name in CHECKS_OFF}


#: The earlier measurements (same command, same machine), kept for comparison: before the
#: helper process (04:01 UTC), before the kept columns were packed (03:05 UTC, load average
#: 2.6 → 1.7, 3 repeats), and before the checks were made incremental and cheaper (00:38 UTC,
#: load average 7.3 → 5.4, 2 repeats).
BEFORE = [
    "## Before: every check in the run's process",
    "",
    "Same command and machine, 2026-11-30 04:01 UTC, load average 0.7 before and 1.0 after, "
    "medians of 3 repeats: the first full run validated the national IDs, found the overlaps "
    "and made the person fingerprints in the run's own process, after splitting eight columns "
    "out of the rows; the next-day person fingerprints were looked up by a Python-level bisect.",
    "",
    "| run | wall s off / on | wall on/off | CPU s off / on | CPU on/off | peak RSS MB off / on |",
    "|---|---|---|---|---|---|",
    "| full | 19.60 / 30.50 | 1.56 | 19.26 / 30.13 | 1.56 | 741 / 861 |",
    "| partial | 6.33 / 8.47 | 1.34 | 5.90 / 8.03 | 1.36 | 747 / 939 |",
    "| full_next | 12.57 / 13.34 | 1.06 | 12.03 / 12.92 | 1.07 | 801 / 985 |",
    "",
    "## Before: the kept columns as lists (publish paid for them)",
    "",
    "Same command and machine, 2026-11-30 03:05 UTC, load average 2.6 before and 1.7 after, "
    "medians of 3 repeats: the next-day run checked incrementally, but the person and manager "
    "columns kept for the next run stayed a million live strings each through the publish "
    "step, which then took ~4 s more CPU; the person fingerprints were updated from two sets "
    "of a million.",
    "",
    "| run | wall s off / on | wall on/off | CPU s off / on | CPU on/off | peak RSS MB off / on |",
    "|---|---|---|---|---|---|",
    "| full | 33.14 / 57.16 | 1.72 | 20.63 / 40.72 | 1.97 | 734 / 910 |",
    "| partial | 8.84 / 10.82 | 1.22 | 5.95 / 8.23 | 1.38 | 748 / 933 |",
    "| full_next | 16.13 / 17.09 | 1.06 | 11.78 / 14.04 | 1.19 | 786 / 972 |",
    "",
    "## Before (the first implementation of the checks)",
    "",
    "Same command and machine, 2026-11-30 00:38 UTC, load average 7.3 before and 5.4 after, "
    "medians of 2 repeats: every row-level check ran over every row on every run.",
    "",
    "| run | wall s off / on | wall on/off | CPU s off / on | CPU on/off | peak RSS MB off / on |",
    "|---|---|---|---|---|---|",
    "| full | 68.89 / 71.76 | 1.04 | 19.11 / 35.60 | 1.86 | 734 / 838 |",
    "| partial | 16.08 / 27.28 | 1.70 | 4.02 / 12.51 | 3.12 | 671 / 871 |",
]


def raw_params(fmt: str, run_type: str, checks_on: bool) -> dict[str, Any]:
    raw = bench_run.raw_params(fmt, run_type)
    if checks_on:
        raw.update(checks=CHECKS_ON, national_id_country="fi", max_file_age_hours=1_000_000)
    else:
        raw.update(checks=CHECKS_OFF)
    return raw


def child(spec: dict[str, Any]) -> None:
    import resource

    from hr_connector.clients.local import LocalOnlySink
    from hr_connector.params import parse_params
    from hr_connector.pipeline import PLAIN_STEPS, run_import
    from hr_connector.workdir import WorkDir

    def children_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    params = parse_params(raw_params(spec["fmt"], spec["run_type"], spec["on"]))
    began, cpu, helper_cpu = time.perf_counter(), time.process_time(), children_cpu()
    result = run_import(
        params, WorkDir(Path(spec["workdir"]), "1", "workperiod"), LocalOnlySink(), PLAIN_STEPS
    )
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    import gc

    gc.collect()  # a helper process still finishing is waited for (its CPU is counted)
    helper_cpu = children_cpu() - helper_cpu

    print(
        "RESULT "
        + json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "helper_cpu_seconds": helper_cpu,
                "decision": result.decision.value,
                "counts": result.counts.model_dump(),
                "quality": result.data_quality,
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=bench_run.CHILD_TIMEOUT,
        env=bench_run.child_env(),
        cwd=bench_run.REPO,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            out: dict[str, Any] = json.loads(line[len("RESULT ") :])
            if out["decision"] != "completed":
                raise RuntimeError(f"{spec}: the run ended {out['decision']}")
            return out
    raise RuntimeError(f"measurement {spec} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


def reference_archives(source: Path) -> dict[str, bytes]:
    """Archives of the other data types holding every ID the CSV file uses."""
    units: set[str] = set()
    titles: set[str] = set()
    centers: set[str] = set()
    with source.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter=";"):
            units.add(row["org_unit_id"])
            titles.add(row["title_id"])
            centers.add(row["cost_center"])

    def dump(rows: list[dict[str, str]]) -> bytes:
        return ("[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]\n").encode()

    return {
        "organization": dump(
            [{"org_unit_id": u, "org_unit_name": u} for u in sorted(units - {""})]
        ),
        "title": dump([{"title_id": t, "title_name": t} for t in sorted(titles - {""})]),
        "costcenter": dump(
            [{"cost_center_id": c, "cost_center_name": c} for c in sorted(centers - {""})]
        ),
    }


def one_repeat(size: str, fmt: str, archives: dict[str, bytes]) -> dict[str, Any]:
    base = generate.file_path(size, "base", fmt)
    next_day = generate.file_path(size, "next_day", fmt)
    out: dict[str, Any] = {}
    for on in (False, True):
        label = "on" if on else "off"
        with bench_run.workdir_with(base) as root:
            folder = root / "data" / "archive"
            folder.mkdir(parents=True)
            for data_type, content in archives.items():
                (folder / f"{data_type}_archive.json").write_bytes(content)
            spec = {"workdir": str(root), "fmt": fmt, "on": on}
            out[f"full_{label}"] = measure({**spec, "run_type": "full"})
            bench_run.place(root, next_day)
            out[f"partial_{label}"] = measure({**spec, "run_type": "partial"})
            bench_run.place(root, base)
            out[f"full_next_{label}"] = measure({**spec, "run_type": "full"})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1M")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--format", default="csv", choices=["csv"])
    parser.add_argument("--child")
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    generate.generate(args.size)
    load_before = os.getloadavg()
    archives = reference_archives(generate.file_path(args.size, "base", args.format))
    reps = []
    for k in range(args.repeat):
        reps.append(one_repeat(args.size, args.format, archives))
        print(
            f"repeat {k + 1}: "
            + ", ".join(f"{key} {value['seconds']:.2f}s" for key, value in reps[-1].items()),
            flush=True,
        )
    load_after = os.getloadavg()

    def med(key: str, field: str = "seconds") -> float:
        return statistics.median(r[key][field] for r in reps)

    lines = [
        "# Data-quality checks: on beside off (issue 16)",
        "",
        f"Command: `.venv/bin/python bench/quality.py --size {args.size} --repeat {args.repeat}`",
        "",
        f"Machine: {os.cpu_count()} cores, Linux {platform.release()}, Python "
        f"{platform.python_version()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. The machine was "
        "shared with other engineers' jobs at the time (load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after), so absolute times are "
        "noisy; off and on ran side by side, interleaved, in each repeat.",
        "",
        f"Medians of {args.repeat} repeats, each measurement a fresh subprocess. "
        f"{generate.SIZES[args.size]:,}-row workperiod {args.format.upper()} from "
        "`bench/generate.py`; organization, title and cost-center archives with every ID the "
        "file uses sit in the working directory. On: every check `warn`, "
        "`national_id_country` `fi`, `max_file_age_hours` set.",
        "",
        "Wall time is what the run takes; the CPU time (user + system) of the run's process is "
        "the steadier measure on a shared machine. A large file's full check has part of its "
        "work done by a helper process on the other core (`quality/helper.py`): its CPU time "
        "is listed apart and added in the last ratio.",
        "",
        "| run | wall s off / on | wall on/off | CPU s off / on | CPU on/off "
        "| helper CPU s | CPU with helper on/off | peak RSS MB off / on |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run_type in ("full", "partial", "full_next"):
        off, on = med(f"{run_type}_off"), med(f"{run_type}_on")
        cpu_off = med(f"{run_type}_off", "cpu_seconds")
        cpu_on = med(f"{run_type}_on", "cpu_seconds")
        helper_on = med(f"{run_type}_on", "helper_cpu_seconds")
        total_on = statistics.median(
            r[f"{run_type}_on"]["cpu_seconds"] + r[f"{run_type}_on"]["helper_cpu_seconds"]
            for r in reps
        )
        lines.append(
            f"| {run_type} | {off:.2f} / {on:.2f} | {on / off:.2f} "
            f"| {cpu_off:.2f} / {cpu_on:.2f} | {cpu_on / cpu_off:.2f} "
            f"| {helper_on:.2f} | {total_on / cpu_off:.2f} "
            f"| {med(f'{run_type}_off', 'peak_mb'):.0f} / {med(f'{run_type}_on', 'peak_mb'):.0f} |"
        )
    lines += [
        "",
        "Findings with the checks on (partial run): "
        + json.dumps(reps[0]["partial_on"]["quality"], sort_keys=True),
        "",
        "Every repeat (wall seconds, CPU seconds):",
        "",
    ]
    for k, rep in enumerate(reps, 1):
        lines.append(
            f"- {k}: "
            + ", ".join(
                f"{key} {value['seconds']:.2f} (CPU {value['cpu_seconds']:.2f}"
                f"{f', helper {h:.2f}' if (h := value['helper_cpu_seconds']) else ''})"
                for key, value in rep.items()
            )
        )
    lines += ["", *BEFORE]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
