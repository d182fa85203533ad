#!/usr/bin/env python3
"""The benchmark: the connector's runs beside the bare read of the same file.

    .venv/bin/python bench/run.py [--sizes 10k,100k,1M] [--repeat 3] [--formats csv,json,xml]
    .venv/bin/python bench/run.py --e2e [--sizes 1M] [--repeat 3] [--sftp-mb 100] [--rtt-ms 20]

``--e2e`` is the end-to-end mode (SFTP beside OpenSSH's ``sftp``, the day through the
EPE wrapper with the admin task filed); see ``bench/e2e.py``.

For each size and format, every figure is the median of ``--repeat`` measurements, each in a
fresh subprocess (its ``ru_maxrss`` is that measurement's peak RSS; wall time is taken inside
the subprocess around the measured call, so interpreter start-up and imports are not in it):

* bare read: a ``csv.reader`` pass over the CSV; ``orjson.loads`` and ``json.load`` of the JSON;
  ``lxml.etree.iterparse`` over the XML, clearing each element and dropping finished siblings;
* full: ``pipeline.hr_import`` in ``pipeline.started``, plain steps, ``LocalOnlySink``, in a
  fresh working directory;
* partial: the same on the next-day file, after an untimed full run of the day before;
* partial + Prefect: that partial run through ``flows.hr_import.run_flow`` against a
  ``prefect server start`` launched here on a free loopback port (own ``PREFECT_HOME``, stopped at
  the end). The admin task is kept locally in both (the ESM sink is swapped for
  ``LocalOnlySink``), so the difference is Prefect's.

A 10-row file through ``run_flow`` and ``runner.run_plain`` shows the fixed cost per run.
The figures are printed and written to ``bench/results.md`` with the machine they came from.
Data comes from ``bench/generate.py`` (generated on first use, then cached in ``bench/out/``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import generate  # noqa: E402  (bench/ is not a package)

#: The in-process figures (bench/results.md holds the day through the wrapper: bench/day.py).
RESULTS = BENCH / "out" / "run-results.md"
WORK = generate.OUT / "work"
FORMATS = ("csv", "json", "xml")
#: No single measurement may take longer than this (seconds).
CHILD_TIMEOUT = 1800
SERVER_START_TIMEOUT = 120
MAX_REPEAT = 20


# --- the measurements (each runs in a fresh child process) ------------------------------------


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bare_read(kind: str, path: str) -> float:
    """Seconds to read the file with the plain library call, nothing kept."""
    began = time.perf_counter()
    if kind == "csv":
        import csv

        with open(path, encoding="utf-8", newline="") as fh:
            for _row in csv.reader(fh, delimiter=";"):
                pass
    elif kind == "orjson":
        import orjson

        with open(path, "rb") as fh:
            orjson.loads(fh.read())
    elif kind == "json":
        with open(path, encoding="utf-8") as fh:
            json.load(fh)
    elif kind == "xml":
        from lxml import etree

        for _event, elem in etree.iterparse(path):
            elem.clear(keep_tail=True)
            while elem.getprevious() is not None:
                del elem.getparent()[0]
    else:
        raise ValueError(kind)
    return time.perf_counter() - began


def raw_params(fmt: str, run_type: str) -> dict[str, Any]:
    return {
        "file_path": f"in/*.{fmt}",
        "data_type": "workperiod",
        "update_limit": 1_000_000_000,
        "run_type": run_type,
        "webapi_url": "http://127.0.0.1:9",
        "webapi_user": "bench",
        "webapi_password": "<not used: reports stay local>",
        "report_template_code": "IGAWorkflowTaskInformation",
    }


def connector_run(engine: str, workdir: str, fmt: str, run_type: str) -> dict[str, Any]:
    """One run; returns seconds (and, for Prefect, the import time kept apart)."""
    from hr_connector import runner
    from hr_connector.params import parse_params
    from hr_connector.sinks import LocalOnlySink

    runner.make_sink = lambda *args, **kwargs: LocalOnlySink()  # type: ignore[assignment]
    raw = raw_params(fmt, run_type)
    out: dict[str, Any] = {}
    if engine == "plain":
        from hr_connector.pipeline import hr_import, started
        from hr_connector.workdir import WorkDir

        params = parse_params(raw)
        began = time.perf_counter()
        with started(params, WorkDir(Path(workdir), "1", "workperiod"), LocalOnlySink()) as run:
            hr_import(run)
        result = run.result
    elif engine == "run_plain":
        params = parse_params(raw)
        began = time.perf_counter()
        result = runner.run_plain(params, Path(workdir), "1")
    elif engine == "flow":
        began = time.perf_counter()
        from hr_connector.flows.hr_import import run_flow

        out["import_s"] = time.perf_counter() - began
        began = time.perf_counter()
        result = run_flow(raw, Path(workdir), "1")
    else:
        raise ValueError(engine)
    out["seconds"] = time.perf_counter() - began
    out["decision"] = result.decision.value
    out["counts"] = result.counts.model_dump()
    return out


def child_main(spec: dict[str, Any]) -> None:
    if spec["what"] == "bare":
        out: dict[str, Any] = {"seconds": bare_read(spec["kind"], spec["path"])}
    else:
        out = connector_run(spec["engine"], spec["workdir"], spec["fmt"], spec["run_type"])
    out["peak_mb"] = _peak_mb()
    print("RESULT " + json.dumps(out))


def measure(spec: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return what it reported."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        env=env or child_env(),
        cwd=REPO,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])  # type: ignore[no-any-return]
    raise RuntimeError(f"measurement {spec} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PYTHONHASHSEED="0", PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    env.update(extra)
    return env


# --- working directories and the Prefect server ------------------------------------------------


@contextlib.contextmanager
def workdir_with(source: Path) -> Iterator[Path]:
    """A fresh working directory whose ``in/`` holds (a hard link to) ``source``."""
    WORK.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
    try:
        place(root, source)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def place(root: Path, source: Path) -> None:
    folder = root / "in"
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    os.link(source, folder / source.name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def prefect_server() -> Iterator[dict[str, str]]:
    """``prefect server start`` on a free loopback port with its own PREFECT_HOME."""
    home = Path(tempfile.mkdtemp(prefix="bench-prefect-"))
    port = free_port()
    env = child_env(PREFECT_HOME=str(home), PREFECT_UI_ENABLED="false")
    log = (home / "server.log").open("wb")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "prefect"),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not _healthy(api):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Prefect server did not start; see {home}/server.log")
            time.sleep(0.5)
        yield child_env(PREFECT_HOME=str(home), PREFECT_API_URL=api)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        log.close()
        shutil.rmtree(home, ignore_errors=True)


def _healthy(api: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


# --- one size and format ------------------------------------------------------------------------


def bare_kinds(fmt: str) -> list[str]:
    return {"csv": ["csv"], "json": ["orjson", "json"], "xml": ["xml"]}[fmt]


def one_repeat(size: str, fmt: str, prefect_env: dict[str, str] | None) -> dict[str, Any]:
    base = generate.file_path(size, "base", fmt)
    next_day = generate.file_path(size, "next_day", fmt)
    out: dict[str, Any] = {}
    for kind in bare_kinds(fmt):
        out[f"bare_{kind}"] = measure({"what": "bare", "kind": kind, "path": str(base)})
    spec = {"what": "run", "engine": "plain", "fmt": fmt}
    with workdir_with(base) as root:
        out["full"] = measure({**spec, "workdir": str(root), "run_type": "full"})
        place(root, next_day)
        out["partial"] = measure({**spec, "workdir": str(root), "run_type": "partial"})
        _check(out["partial"], size)
    if prefect_env is not None:
        with workdir_with(base) as root:
            measure({**spec, "workdir": str(root), "run_type": "full"})  # the day before
            place(root, next_day)
            flow = {**spec, "engine": "flow", "workdir": str(root), "run_type": "partial"}
            out["prefect"] = measure(flow, prefect_env)
            _check(out["prefect"], size)
    return out


def _check(result: dict[str, Any], size: str) -> None:
    if result["decision"] != "completed":
        raise RuntimeError(f"{size}: the run ended {result['decision']}: {result}")


def tiny_overhead(repeat: int, prefect_env: dict[str, str]) -> dict[str, list[float]]:
    """The 10-row file through run_plain and through run_flow: the fixed cost of a run."""
    source = generate.file_path("10", "base", "csv")
    figures: dict[str, list[float]] = {"run_plain": [], "run_flow": [], "import_flow": []}
    for _ in range(repeat):
        for engine, env in (("run_plain", None), ("flow", prefect_env)):
            with workdir_with(source) as root:
                spec = {
                    "what": "run",
                    "engine": engine,
                    "workdir": str(root),
                    "fmt": "csv",
                    "run_type": "full",
                }
                result = measure(spec, env)
            if engine == "flow":
                figures["run_flow"].append(result["seconds"])
                figures["import_flow"].append(result["import_s"])
            else:
                figures["run_plain"].append(result["seconds"])
    return figures


# --- reporting ------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarise(size: str, fmt: str, reps: list[dict[str, Any]]) -> dict[str, Any]:
    def seconds(key: str) -> float:
        return median([r[key]["seconds"] for r in reps if key in r])

    def peak(key: str) -> float:
        return median([r[key]["peak_mb"] for r in reps if key in r])

    row: dict[str, Any] = {"size": size, "format": fmt, "rows": generate.SIZES[size]}
    for kind in bare_kinds(fmt):
        row[f"bare_{kind}"] = seconds(f"bare_{kind}")
    row.update(
        full=seconds("full"),
        partial=seconds("partial"),
        prefect=seconds("prefect") if any("prefect" in r for r in reps) else None,
        peak_full=peak("full"),
        peak_partial=peak("partial"),
        peak_prefect=peak("prefect") if any("prefect" in r for r in reps) else None,
        counts=reps[0]["partial"]["counts"],
    )
    return row


def _bare_cell(row: dict[str, Any]) -> str:
    if row["format"] == "json":
        return f"{row['bare_orjson']:.2f} (orjson) / {row['bare_json']:.2f} (json)"
    return f"{row['bare_' + row['format']]:.2f}"


def _ratio_cell(row: dict[str, Any], key: str) -> str:
    if row["format"] == "json":
        return f"{row[key] / row['bare_orjson']:.2f} / {row[key] / row['bare_json']:.2f}"
    return f"{row[key] / row['bare_' + row['format']]:.2f}"


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| size | format | bare read s | full s | partial s | partial + Prefect s "
        "| peak RSS MB full / partial / Prefect | partial/bare | full/bare |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        prefect = f"{r['prefect']:.2f}" if r["prefect"] is not None else "-"
        peak_prefect = f"{r['peak_prefect']:.0f}" if r["peak_prefect"] is not None else "-"
        lines.append(
            f"| {r['size']} | {r['format']} | {_bare_cell(r)} | {r['full']:.2f} "
            f"| {r['partial']:.2f} | {prefect} "
            f"| {r['peak_full']:.0f} / {r['peak_partial']:.0f} / {peak_prefect} "
            f"| {_ratio_cell(r, 'partial')} | {_ratio_cell(r, 'full')} |"
        )
    return head + "\n".join(lines) + "\n"


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = subprocess.run(
        [
            sys.executable,
            "-c",
            "import prefect, orjson, lxml.etree as e; "
            "print(prefect.__version__, orjson.__version__, '.'.join(map(str, e.LXML_VERSION)))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    ).stdout.split()
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        memory = f"{kb / 1024 / 1024:.0f} GiB"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": memory,
        "python": platform.python_version(),
        "packages": " ".join(
            f"{n} {v}" for n, v in zip(("prefect", "orjson", "lxml"), versions, strict=False)
        ),
        "kernel": platform.release(),
    }


def write_results(
    rows: list[dict[str, Any]], tiny: dict[str, list[float]] | None, repeat: int, argv: list[str]
) -> str:
    info = machine()
    text = [
        "# Benchmark results",
        "",
        f"Command: `.venv/bin/python bench/run.py {' '.join(argv)}`".replace("  ", " "),
        "",
        f"Machine: {info['nproc']} cores ({info['cpu']}), {info['memory']} RAM, Linux "
        f"{info['kernel']}, Python {info['python']}, {info['packages']}; {info['date']}.",
        "",
        f"Medians of {repeat} runs, each in a fresh subprocess (peak RSS = its `ru_maxrss`; times "
        "are taken around the measured call, without interpreter start-up and imports). "
        "Workperiod files from `bench/generate.py` (19 columns, ~0.5 % bad rows); the partial run "
        "reads the next-day file (~1 % changed, 0.5 % new, 0.5 % removed) after a full run of the "
        "day before. JSON ratios are given against orjson / json.",
        "",
        table(rows),
    ]
    if rows:
        counts = rows[-1]["counts"]
        text.append(
            f"Partial run of the largest file: {counts['new']} new, {counts['changed']} changed, "
            f"{counts['removed']} removed, {counts['unchanged']} unchanged, "
            f"{counts['blocked']} blocked.\n"
        )
    if tiny is not None:
        text += [
            "Fixed cost of a run (10-row CSV, full run, medians):",
            "",
            "| run_plain s | run_flow s | Prefect per run s | import of the flow module s |",
            "|---|---|---|---|",
            f"| {median(tiny['run_plain']):.3f} | {median(tiny['run_flow']):.3f} "
            f"| {median(tiny['run_flow']) - median(tiny['run_plain']):.3f} "
            f"| {median(tiny['import_flow']):.2f} |",
            "",
        ]
    RESULTS.write_text("\n".join(text) + _kept_e2e_section(), encoding="utf-8")
    return "\n".join(text)


E2E_HEADING = "## End to end"


def _kept_e2e_section() -> str:
    """The end-to-end section of results.md, kept when the standard mode rewrites the file."""
    if not RESULTS.exists():
        return ""
    text = RESULTS.read_text(encoding="utf-8")
    at = text.find(E2E_HEADING)
    return "\n" + text[at:] if at >= 0 else ""


def load_note(before: float) -> str:
    """How busy the machine was: timings on a shared machine are noisy (ratios are not)."""
    with contextlib.suppress(OSError, ValueError):
        after = float(Path("/proc/loadavg").read_text().split()[0])
        cores = os.cpu_count() or 1
        if max(before, after) > cores * 0.75:
            return (
                f"Measured under load: load average {before:.1f} at the start, {after:.1f} at the "
                f"end, on {cores} cores shared with other jobs, so absolute times are noisy; the "
                "ratios compare runs made side by side."
            )
        return f"Load average {before:.1f} / {after:.1f} on {cores} cores."
    return ""


def run_e2e_mode(args: argparse.Namespace, args_list: list[str]) -> int:
    import e2e

    raw = BENCH / "out" / "e2e-results.json"
    if args.e2e_from:  # render the figures of an earlier run again (e.g. after a text change)
        results = json.loads(Path(args.e2e_from).read_text(encoding="utf-8"))
        info = results.get("machine") or machine()
        command = results.get("argv", args_list)
    else:
        load = 0.0
        with contextlib.suppress(OSError, ValueError):
            load = float(Path("/proc/loadavg").read_text().split()[0])
        results = e2e.run_e2e(
            generate.parse_sizes(args.sizes),
            args.repeat,
            args.sftp_mb,
            args.rtt_ms,
            measure,
            skip_day=args.sftp_only,
        )
        info, command = machine(), args_list
        results.update(load_note=load_note(load), machine=info, argv=command)
        raw.write_text(json.dumps(results, indent=2), encoding="utf-8")
    section = e2e.markdown(results, info, command, results.get("load_note", ""))
    print(section)
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    at = text.find(E2E_HEADING)
    head = text[:at] if at >= 0 else text
    RESULTS.write_text(head.rstrip("\n") + "\n\n" + section, encoding="utf-8")
    print(f"Written to {RESULTS.relative_to(REPO)} (raw figures: {raw.relative_to(REPO)})")
    return 0


# --- main -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["--child"]:
        child_main(json.loads(args_list[1]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10k,100k,1M")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--no-prefect", action="store_true", help="skip the Prefect runs")
    parser.add_argument(
        "--e2e",
        action="store_true",
        help="end-to-end mode: SFTP vs OpenSSH sftp, the day through IGAConnector.py",
    )
    parser.add_argument("--sftp-mb", type=int, default=100, help="e2e: size of the SFTP file")
    parser.add_argument("--rtt-ms", type=float, default=20.0, help="e2e: added round trip")
    parser.add_argument("--sftp-only", action="store_true", help="e2e: only the SFTP comparison")
    parser.add_argument("--e2e-from", help="e2e: render the raw figures of an earlier run")
    args = parser.parse_args(args_list)
    if args.e2e:
        if not 1 <= args.repeat <= MAX_REPEAT:
            parser.error(f"--repeat 1..{MAX_REPEAT}")
        return run_e2e_mode(args, args_list)
    sizes = generate.parse_sizes(args.sizes)
    formats = [f for f in args.formats.split(",") if f]
    if not 1 <= args.repeat <= MAX_REPEAT or not set(formats) <= set(FORMATS):
        parser.error(f"--repeat 1..{MAX_REPEAT}, --formats from {FORMATS}")
    for size in ["10", *sizes]:
        generate.generate(size)
    rows: list[dict[str, Any]] = []
    tiny = None
    with contextlib.ExitStack() as stack:
        prefect_env = None if args.no_prefect else stack.enter_context(prefect_server())
        if prefect_env is not None:
            tiny = tiny_overhead(args.repeat, prefect_env)
        for size in sizes:
            for fmt in formats:
                began = time.perf_counter()
                reps = [one_repeat(size, fmt, prefect_env) for _ in range(args.repeat)]
                rows.append(summarise(size, fmt, reps))
                print(f"{size} {fmt}: done in {time.perf_counter() - began:.0f} s", flush=True)
                print(table(rows[-1:]), flush=True)
    print(write_results(rows, tiny, args.repeat, args_list))
    print(f"Written to {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
