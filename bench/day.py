#!/usr/bin/env python3
"""The user's whole day, per data distribution: the wrapper's full run, then the next day's
partial run, each beside a bare ``csv.reader`` pass over the same file, medians side by side.

    .venv/bin/python bench/day.py [--size 1M] [--repeat 3] [--distributions standard,...]
                                  [--formats csv,json,xml] [--no-prefect] [--no-copy] [--no-off]
                                  [--prefect-for ...] [--baseline SRC --baseline-for ...]

Every run is ``deployments/epe/IGAConnector.py`` as the engine starts it (a process, the
parameters in a file), with the admin task and its attachments filed to the local ESM
(``esm_sandbox``, its own process on loopback); each must exit 0 and leave one new datacard.
Each is timed around the process: wall and CPU seconds and peak RSS from ``wait4``. Per
distribution and repeat (so every figure has its baseline from the same minutes; after the bare
passes, the kinds of run take turns at going first, one repeat each):

* the bare ``csv.reader`` pass over the day's file and over the next day's file;
* checks ``off`` (unless ``--no-off``): full run, partial run;
* default checks: full run, partial run; the same partial run in a copy of the working directory
  made after the full run (a restore from backup: new inodes and times); the full and partial
  runs as Prefect flows (``PREFECT_API_URL`` set to a local ``prefect server``); the full and
  partial runs of another checkout's ``src/`` (``--baseline``).

Results: one Markdown line per distribution and format on stdout, every figure side by side,
and the raw figures in ``bench/out/day-<size><tag>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import filecmp
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(BENCH))

import distributions  # noqa: E402
import e2e  # noqa: E402
import run as bench_run  # noqa: E402

ALL_OFF = {"references": "off", "cycles": "off", "overlaps": "off", "national_ids": "off"}
BARE = """
import csv, sys, time
began = time.perf_counter()
with open(sys.argv[1], encoding="utf-8", newline="") as fh:
    for _row in csv.reader(fh, delimiter=";"):
        pass
print(time.perf_counter() - began)
"""


def timed(argv: list[str], **kwargs: Any) -> tuple[dict[str, float], int]:
    """Wall and CPU (user + system) seconds and peak RSS (MB) of one process, from ``wait4``;
    and its exit status. On a shared machine the CPU seconds move less than the wall clock.

    The disk is synced first: the previous run's (or the working directory copy's) gigabyte
    still being written back must not be charged to this one."""
    os.sync()
    began = time.perf_counter()
    proc = subprocess.Popen(argv, **kwargs)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - began
    figures = {"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime}
    return {**figures, "peak_mb": usage.ru_maxrss / 1024}, os.waitstatus_to_exitcode(status)


def bare_pass(path: Path) -> dict[str, float]:
    """A bare ``csv.reader`` pass as a process of its own (start-up included, like the wrapper)."""
    figures, status = timed([sys.executable, "-c", BARE, str(path)], stdout=subprocess.DEVNULL)
    if status:
        raise RuntimeError(f"the bare pass failed on {path}")
    return figures


def params(esm_url: str, fmt: str, run_type: str, checks: dict[str, str] | None) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "file_path": f"in/*.{fmt}",
        "data_type": "workperiod",
        "update_limit": 1_000_000_000,
        "run_type": run_type,
        "webapi_url": esm_url,
        "webapi_user": "bench",
        "webapi_password": e2e.ESM_PASSWORD,
        "report_template_code": "IGAWorkflowTaskInformation",
        "taskid": "1",
    }
    if checks is not None:
        raw["checks"] = checks
    return raw


def wrapper(workdir: Path, raw: dict[str, Any], cards: Path, env: dict[str, str]) -> dict[str, Any]:
    """One wrapper run; the admin task must be filed (one new datacard)."""
    before = len(list(cards.glob("*.json"))) if cards.exists() else 0
    params_file = workdir.parent / f"{workdir.name}.params.json"
    params_file.write_text(json.dumps(raw), encoding="utf-8")
    with (workdir.parent / f"{workdir.name}.err").open("wb") as err:
        figures, status = timed(
            [
                sys.executable,
                str(e2e.WRAPPER),
                "--params",
                str(params_file),
                "--workdir",
                str(workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=err,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            env=env,
        )
    if status != 0:
        tail = (workdir.parent / f"{workdir.name}.err").read_text()[-3000:]
        raise RuntimeError(f"the wrapper exited {status}:\n{tail}")
    if len(list(cards.glob("*.json"))) != before + 1:
        raise RuntimeError("the admin task was not filed")
    return figures


def place(root: Path, source: Path) -> None:
    folder = root / "in"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.link(source, folder / source.name)


def plain_env() -> dict[str, str]:
    return {k: v for k, v in bench_run.child_env().items() if not k.startswith("PREFECT_API")}


def one_day(
    files: dict[str, dict[str, Path]],
    fmt: str,
    scratch: Path,
    esm: tuple[str, Path],
    prefect_env: dict[str, str] | None,
    copy: bool,
    checks_off: bool,
    baseline: str | None = None,
    checks_on: bool = True,
    repeat: int = 0,
) -> dict[str, dict[str, float]]:
    """One repeat of one distribution and format: every figure of the module docstring.

    The kinds of run take turns at going first (``repeat``): the first connector run of a
    repeat follows the previous repeat's deleted files and reads slower, and that must not
    always fall on the same kind.
    """
    url, cards = esm
    base, next_day = files["base"][fmt], files["next_day"][fmt]
    out: dict[str, dict[str, float]] = {}
    # the bare pass over the day's CSV also for JSON and XML (the same rows)
    out["bare_full"] = bare_pass(files["base"]["csv"])
    out["bare_partial"] = bare_pass(files["next_day"]["csv"])
    modes: list[tuple[str, dict[str, str] | None, dict[str, str]]] = []
    if checks_off:
        modes.append(("off_", ALL_OFF, plain_env()))
    if checks_on:
        modes.append(("", None, plain_env()))
    copy_label = "" if checks_on else "off_"
    if prefect_env is not None:
        modes.append(("prefect_", None, prefect_env))
    if baseline:  # another checkout's connector (its src/ first on the path), same files
        before = {**plain_env(), "PYTHONPATH": baseline}
        modes += [("before_off_", ALL_OFF, before)] if checks_off else []
        modes += [("before_", None, before)]
    turn = repeat % len(modes)
    for label, checks, env in modes[turn:] + modes[:turn]:
        root = scratch / f"{label}work"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir()
        place(root, base)
        out[f"{label}full"] = wrapper(root, params(url, fmt, "full", checks), cards, env)
        if copy and label == copy_label:
            restored = scratch / "restored"
            shutil.rmtree(restored, ignore_errors=True)
            shutil.copytree(root, restored)  # new inodes and times, same bytes
        place(root, next_day)
        out[f"{label}partial"] = wrapper(root, params(url, fmt, "partial", checks), cards, env)
        if copy and label == copy_label:
            place(restored, next_day)
            raw = params(url, fmt, "partial", checks)
            out["copy_partial"] = wrapper(restored, raw, cards, env)
            # compared in chunks: a child's peak RSS (wait4) starts from this process's peak
            if not filecmp.cmp(restored / "1_output.json", root / "1_output.json", shallow=False):
                raise RuntimeError("the copied working directory output other rows")
            shutil.rmtree(restored)
        shutil.rmtree(root)
    return out


def summary(reps: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    keys = reps[0].keys()
    return {
        k: {
            "seconds": statistics.median(r[k]["seconds"] for r in reps),
            "cpu": statistics.median(r[k]["cpu"] for r in reps),
            "peak_mb": max(r[k]["peak_mb"] for r in reps),
        }
        for k in keys
    }


def ratios(s: dict[str, dict[str, float]]) -> dict[str, float]:
    """Each run against its baseline measured in the same repeats."""
    out: dict[str, float] = {}

    def ratio(name: str, of: str, to: str) -> None:
        if of in s and to in s:
            out[name] = s[of]["seconds"] / s[to]["seconds"]
            out[name + " cpu"] = s[of]["cpu"] / s[to]["cpu"]

    for label in ("off_", "", "prefect_", "before_off_", "before_"):
        ratio(f"{label}full/bare", f"{label}full", "bare_full")
        ratio(f"{label}partial/bare", f"{label}partial", "bare_partial")
    ratio("copy/in place (partial)", "copy_partial", "partial" if "partial" in s else "off_partial")
    ratio("prefect/plain (full)", "prefect_full", "full")
    ratio("prefect/plain (partial)", "prefect_partial", "partial")
    return out


def table(results: dict[str, Any]) -> str:
    """One line per distribution and format, every figure side by side: median wall seconds,
    the ratio to its baseline (the bare pass; plain mode in place) by wall and by CPU seconds,
    and the highest peak RSS."""
    columns = [
        ("full", "full", "full/bare"),
        ("partial", "partial", "partial/bare"),
        ("copy, partial", "copy_partial", "copy/in place (partial)"),
        ("Prefect full", "prefect_full", "prefect/plain (full)"),
        ("Prefect partial", "prefect_partial", "prefect/plain (partial)"),
        ("before: full", "before_full", "before_full/bare"),
        ("before: partial", "before_partial", "before_partial/bare"),
        ("checks off: full", "off_full", "off_full/bare"),
        ("checks off: partial", "off_partial", "off_partial/bare"),
    ]
    shown = [c for c in columns if any(c[1] in f["summary"] for f in results.values())]
    head = ["distribution", "format", "bare s", *(c[0] for c in shown), "peak MB"]
    lines = ["| " + " | ".join(head) + " |", "| --- | --- |" + " ---: |" * (len(head) - 2)]
    for key, figures in results.items():
        s, r = figures["summary"], figures["ratios"]
        cells = [*key.split("/"), f"{s['bare_full']['seconds']:.2f}" if "bare_full" in s else ""]
        for _, run, ratio in shown:
            if run not in s:
                cells.append("")
                continue
            wall, cpu = r.get(ratio, 0.0), r.get(ratio + " cpu", 0.0)
            cells.append(f"{s[run]['seconds']:.2f} ({wall:.2f}x; CPU {cpu:.2f}x)")
        runs = [k for k in s if not k.startswith("bare_")]
        cells.append(f"{max(s[k]['peak_mb'] for k in runs):.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@contextlib.contextmanager
def maybe_prefect(enabled: bool) -> Iterator[dict[str, str] | None]:
    if not enabled:
        yield None
        return
    with bench_run.prefect_server() as env:
        yield env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1M", choices=list(distributions.generate.SIZES))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--distributions", default=",".join(distributions.DISTRIBUTIONS))
    parser.add_argument("--formats", default="csv", help="json and xml: standard only")
    parser.add_argument("--no-prefect", action="store_true")
    parser.add_argument("--prefect-for", default="standard", help="distributions run as flows")
    parser.add_argument(
        "--checks-for",
        default=",".join(distributions.DISTRIBUTIONS),
        help="distributions also run with the default checks (all run with the checks off)",
    )
    parser.add_argument("--no-copy", action="store_true")
    parser.add_argument("--no-off", action="store_true", help="skip the runs with the checks off")
    parser.add_argument("--tag", default="", help="added to the results file's name")
    parser.add_argument(
        "--baseline", help="src/ of another checkout (e.g. the commit before): its runs beside"
    )
    parser.add_argument("--baseline-for", default="standard", help="distributions it runs on")
    args = parser.parse_args(argv)
    jobs = [(d, "csv") for d in args.distributions.split(",") if d]
    jobs += [("standard", f) for f in args.formats.split(",") if f != "csv"]
    results: dict[str, Any] = {}
    distributions.OUT.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="day-", dir=distributions.OUT))
    try:
        with e2e.esm_sandbox(scratch) as esm, maybe_prefect(not args.no_prefect) as prefect:
            for name, fmt in jobs:
                formats = ("csv", fmt) if fmt != "csv" else ("csv",)
                files = distributions.files(name, args.size, formats)
                reps = []
                for repeat in range(args.repeat):
                    reps.append(
                        one_day(
                            files,
                            fmt,
                            scratch,
                            esm,
                            prefect if fmt == "csv" and name in args.prefect_for else None,
                            copy=not args.no_copy and fmt == "csv",
                            checks_off=not args.no_off,
                            baseline=args.baseline
                            if fmt == "csv" and name in args.baseline_for.split(",")
                            else None,
                            checks_on=name in args.checks_for.split(","),
                            repeat=repeat,
                        )
                    )
                    print(name, fmt, {k: round(v["seconds"], 2) for k, v in reps[-1].items()})
                s = summary(reps)
                results[f"{name}/{fmt}"] = {"reps": reps, "summary": s, "ratios": ratios(s)}
                out = distributions.OUT / f"day-{args.size}{args.tag}.json"  # kept after each job
                out.write_text(json.dumps({"size": args.size, "results": results}, indent=1))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
