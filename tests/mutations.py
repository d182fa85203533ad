#!/usr/bin/env python3
"""The project's mutation check: each break below must make at least one test fail.

Run it before a large refactor and quote its table in the closing note::

    .venv/bin/python tests/mutations.py            # every break (a few minutes)
    .venv/bin/python tests/mutations.py --only redact-no-op host-key-after-login
    .venv/bin/python tests/mutations.py --check    # only: does every break still apply?
    .venv/bin/python tests/mutations.py --list

How it works. The repository (tracked and untracked, not ignored, files of the working tree) is
copied to a scratch folder; the working tree is never changed. The virtual environment holds an
editable install of the working tree, so the copy is put first on ``PYTHONPATH`` and given
``src/hr_connector/{flows,tasks,translations}`` links (the layout ``pyproject.toml`` maps them to):
Python's path finder then finds the copy before the editable finder, also in the subprocesses the
tests start. That this holds is checked before any break: every package must import from the copy.

Each break replaces one anchor text (which must occur exactly once) in one file of the copy, runs
its few test files there, and restores the file. A break whose anchor is not found is reported
as NOT APPLIED and the script exits 1: the product code moved, and the break must be rewritten,
not silently skipped. Before the breaks, each test selection runs once on the unbroken copy
(``--no-baseline`` skips it): a selection that already fails proves nothing.

Exit status: 0 when every break applied and was caught, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: top-level folders installed as sub-packages of hr_connector (pyproject.toml's package-dir)
MAPPED = ("flows", "tasks", "translations")


@dataclass(frozen=True)
class Break:
    name: str
    what: str  # the behaviour the break removes
    path: str  # file, relative to the repository
    anchor: str  # text that occurs exactly once in the file
    replacement: str
    tests: tuple[str, ...]  # pytest arguments: files, node ids, -k expressions
    timeout: float = 600


BREAKS: tuple[Break, ...] = (
    Break(
        "redact-no-op",
        "runlog.redact() returns its input unchanged",
        "src/hr_connector/runlog.py",
        "def redact(text: str) -> str:\n",
        "def redact(text: str) -> str:\n    return text  # MUTATION\n",
        ("tests/test_redaction.py", "-k", "not prefect"),
    ),
    Break(
        "redact-raw-only",
        "redaction knows only the raw secret (no URL/JSON/Latin-1 forms)",
        "src/hr_connector/runlog.py",
        '    forms |= {f.encode("utf-8").decode("latin-1") for f in forms}\n',
        "    forms = {value}  # MUTATION\n",
        ("tests/test_redaction.py", "-k", "not prefect"),
    ),
    Break(
        "sftp-scrubber-no-op",
        "the SFTP client's scrubber returns its input unchanged",
        "src/hr_connector/clients/sftp/session.py",
        "def _scrub(text: str, secrets: tuple[str, ...]) -> str:\n",
        "def _scrub(text: str, secrets: tuple[str, ...]) -> str:\n    return text  # MUTATION\n",
        ("tests/test_redaction.py", "-k", "sftp or run_whose"),
    ),
    Break(
        "undelivered-mark-ignored",
        "a rerun ignores the undelivered mark of a killed run (its changes are lost)",
        "src/hr_connector/delivery.py",
        "    if is_marked(workdir):\n        base = BaseView(",
        "    if False:  # MUTATION\n        base = BaseView(",
        ("tests/test_faults.py", "-k", "sigkill"),
    ),
    Break(
        "host-key-after-login",
        "the host key is verified after authenticating (credentials reach an impostor)",
        "src/hr_connector/clients/sftp/session.py",
        "        verified_by = verify_host_key(settings, key, server, known, first_use)\n"
        "        verified_here[host_entry(settings)] = key.asbytes()\n"
        '        doing = "logging in"\n'
        "        method = _authenticate(transport, settings, server)\n",
        '        doing = "logging in"\n'
        "        method = _authenticate(transport, settings, server)  # MUTATION: swapped\n"
        "        verified_by = verify_host_key(settings, key, server, known, first_use)\n"
        "        verified_here[host_entry(settings)] = key.asbytes()\n",
        ("tests/test_sftp.py", "-k", "host_key or impostor or pinned or revoked"),
    ),
    Break(
        "esm-reason-from-the-callers-error",
        "an ESM error's reason follows into the error its caller was handling",
        "src/hr_connector/clients/esm/http.py",
        "        outer = sys.exception()  # being handled by the caller: not this call's cause\n",
        "        outer = None  # MUTATION\n",
        ("tests/test_esm_client.py", "-k", "refused"),
    ),
    Break(
        "description-drops-first-blocked-row",
        "the admin task's description leaves out the first blocked row",
        "src/hr_connector/report.py",
        "        for row in blocked[:MAX_LISTED_BLOCKED]:\n",
        "        for row in blocked[1:MAX_LISTED_BLOCKED]:  # MUTATION\n",
        ("tests/test_admin_task_contents.py",),
    ),
    Break(
        "description-first-reason-only",
        "the admin task's description shows only the first reason of each blocked row",
        "src/hr_connector/report.py",
        '            reasons = "; ".join(r.message for r in row.reasons)\n',
        '            reasons = "; ".join(r.message for r in row.reasons[:1])  # MUTATION\n',
        ("tests/test_admin_task_contents.py",),
    ),
    Break(
        "csv-quoted-line-breaks-start-records",
        "a line inside a quoted value is taken for a new record (positions and rows go wrong)",
        "src/hr_connector/readers/csv_reader.py",
        'start=((pl.col("quotes").cum_sum() - pl.col("quotes")) % 2) == 0,',
        'start=pl.col("quotes") >= 0,  # MUTATION',
        ("tests/test_engine_properties.py", "-k", "csv"),
    ),
    Break(
        "csv-delimiter-inside-quotes-counted",
        "a delimiter inside a quoted value counts as a field: a short row is taken as whole",
        "src/hr_connector/readers/csv_reader.py",
        '| pl.col("line").str.contains(inside))',
        ")  # MUTATION",
        ("tests/test_engine_properties.py", "-k", "ragged"),
    ),
    Break(
        "digest-in-place-takes-every-row-of-the-span",
        "the digest of rows read in place hashes the rows between them too",
        "src/hr_connector/compare.py",
        "chosen = part.slice(first, span).filter(picked.slice(first, span))",
        "chosen = part.slice(first, span)  # MUTATION",
        ("tests/test_engine_properties.py", "-k", "digest"),
    ),
    Break(
        "comparer-never-reports-a-change",
        "the comparer reports every kept row as unchanged (the property tests alone)",
        "src/hr_connector/compare.py",
        '(pl.col(_HIT) != pl.col(_HIT + _OLD)).fill_null(True).alias("\\x00differs"),',
        'pl.lit(False).alias("\\x00differs"),  # MUTATION',
        ("tests/test_validate_compare.py", "tests/test_engine_properties.py", "-k", "partition"),
    ),
    Break(
        "sidecar-trusted-without-its-hash",
        "the previous run's sidecar is read whatever the archive holds now",
        "src/hr_connector/previous_run.py",
        "    if meta is not None and json.dumps(meta) == wanted:\n",
        "    if meta is not None:  # MUTATION\n",
        ("tests/test_previous_run_through_the_wrapper.py", "-k", "edited"),
    ),
    Break(
        "changes-file-formulas-live",
        "a changes-file cell starting with = + - @ is written as it is (a live formula)",
        "src/hr_connector/changes.py",
        "    return pl.when(value.str.contains(FORMULA_START))",
        "    return value  # MUTATION\n    return pl.when(value.str.contains(FORMULA_START))",
        ("tests/test_previous_run_through_the_wrapper.py", "-k", "formulas"),
    ),
    Break(
        "look-alike-row-ids-pass",
        "row IDs that differ only by whitespace or Unicode normalisation are not blocked",
        "src/hr_connector/validate.py",
        "        found.append(look_alike_ids(frame.get_column(key)))\n",
        "        pass  # MUTATION\n",
        ("tests/test_engine_properties.py", "-k", "validation"),
    ),
    Break(
        "minimum-row-count-stop-writes-archives",
        "a minimum-row-count stop still replaces the archives",
        "src/hr_connector/pipeline.py",
        "        completed = result.interruption is None\n",
        "        completed = result.interruption is None or (  # MUTATION\n"
        '            result.interruption.case == "minimum_row_count"\n'
        "        )\n",
        ("tests/test_pipeline.py", "-k", "minimum_row_count"),
    ),
    Break(
        "translation-loses-a-placeholder",
        "a translation drops a placeholder of the English text",
        "translations/translation.json",
        "{count}",  # the first one in the file: its case's English text or a translation
        "{count_}",
        ("tests/test_translations.py",),
    ),
    Break(
        "overlaps-end-day-excluded",
        "a period ending the day the next one starts no longer overlaps it",
        "src/hr_connector/quality/overlaps.py",
        '    reach = keyed["first"].search_sorted(keyed["last"], side="right")\n',
        '    reach = keyed["first"].search_sorted(keyed["last"], side="left")  # MUTATION\n',
        ("tests/test_quality_properties.py", "-k", "overlaps"),
    ),
    Break(
        "cycles-self-manager-not-a-cycle",
        "a person who is their own manager (a knot of one) is no longer reported as a cycle",
        "src/hr_connector/quality/cycles.py",
        "if len(c) > 1 or c[0] in graph.get(c[0], ())]",
        "if len(c) > 1]  # MUTATION",
        ("tests/test_quality_properties.py", "-k", "cycles"),
    ),
    Break(
        "minimum-row-count-stops-at-the-minimum",
        "a file with exactly minimum_row_count data rows is stopped",
        "src/hr_connector/guards.py",
        "and rows_read < params.minimum_row_count:",
        "and rows_read <= params.minimum_row_count:  # MUTATION",
        ("tests/test_limits_at_their_edges.py",),
    ),
    Break(
        "one-day-work-period-blocked",
        "a work period that ends the day it starts is blocked as ending before it starts",
        "src/hr_connector/rules.py",
        "(ctx.dates[end] < ctx.dates[start]).fill_null(False),",
        "(ctx.dates[end] <= ctx.dates[start]).fill_null(False),  # MUTATION",
        ("tests/test_limits_at_their_edges.py",),
    ),
    Break(
        "changeset-digest-ignores-removed-ids",
        "the changeset digest counts the removed rows but not which they are",
        "src/hr_connector/compare.py",
        'for tag, part, at in ((b"T", frame, order), (b"R", pl.DataFrame({"r": removed}), None)):',
        'for tag, part, at in ((b"T", frame, order),):  # MUTATION',
        ("tests/test_limits_at_their_edges.py",),
    ),
    Break(
        "report-max-rows-not-on-removed",
        "the admin task lists every removed row whatever report_max_rows says",
        "src/hr_connector/changes.py",
        "removed=_row_changes(self.removed.head(max_rows), self.identity_columns),",
        "removed=_row_changes(self.removed, self.identity_columns),  # MUTATION",
        ("tests/test_limits_at_their_edges.py",),
    ),
    Break(
        "changes-file-first-reason-only",
        "the changes file lists only the first reason of a blocked row",
        "src/hr_connector/changes.py",
        'found.select(pl.lit("blocked").alias("change"),',
        'found.unique("row", keep="first", maintain_order=True).select(pl.lit("blocked").alias('
        '"change"),',
        ("tests/test_changes_file_lines.py",),
    ),
    Break(
        "changes-miss-a-column-gone-from-the-file",
        "a column the file no longer has is not listed as a change",
        "src/hr_connector/changes.py",
        "columns = table_columns + sorted(set(previous.columns) - set(table_columns))",
        "columns = table_columns  # MUTATION",
        ("tests/test_changes_file_lines.py",),
    ),
    Break(
        "fetch-takes-an-empty-file",
        "fetch passes an empty file on (only the parse step would refuse it)",
        "src/hr_connector/fetch.py",
        "    if st.st_size == 0:\n",
        "    if st.st_size < 0:  # MUTATION\n",
        ("tests/test_second_layer_guards.py",),
    ),
    Break(
        "xml-parser-resolves-entities",
        "the XML parser expands entities (were a DOCTYPE let through)",
        "src/hr_connector/readers/xml_reader.py",
        '"resolve_entities": False,',
        '"resolve_entities": True,  # MUTATION',
        ("tests/test_second_layer_guards.py",),
    ),
    Break(
        "xml-parser-loads-the-dtd",
        "the XML parser loads the DTD a DOCTYPE names (were a DOCTYPE let through)",
        "src/hr_connector/readers/xml_reader.py",
        '"load_dtd": False,',
        '"load_dtd": True,  # MUTATION',
        ("tests/test_second_layer_guards.py",),
    ),
    Break(
        "admin-task-artifact-unmasked",
        "the admin task's Prefect artifact shows national IDs as the file holds them",
        "src/hr_connector/artifacts.py",
        "    return mask_national_ids(text)\n",
        "    return text  # MUTATION\n",
        ("tests/test_second_layer_guards.py",),
    ),
    Break(
        "a-rule-code-without-texts",
        "a rule gives a reason code translation.json has no texts for",
        "src/hr_connector/rules.py",
        'Rule("valid dates", ("invalid_date",), _valid_dates),',
        'Rule("valid dates", ("invalid_date", "date_out_of_range"), _valid_dates),  # MUTATION',
        ("tests/test_changes.py", "-k", "six_languages or admin_task_words"),
    ),
    Break(
        "prefect-retries-every-failure",
        "the network tasks retry every failure under Prefect (auth, host key, 4xx too)",
        "tasks/__init__.py",
        "    except Exception:\n        return False\n",
        "    except Exception:\n        return True  # MUTATION\n",
        ("tests/test_retries_under_prefect.py", "-k", "once"),
    ),
    Break(
        "sftp-refusals-retried",
        "an SFTP refusal (wrong password, unknown host key) is taken for a passing failure",
        "src/hr_connector/errors.py",
        "class SftpError(RunInterrupted):",
        "class SftpError(TransientError):  # MUTATION",
        ("tests/test_retries_under_prefect.py", "-k", "once"),
    ),
    Break(
        "sftp-change-during-download-accepted",
        "a remote file that changed during the download is taken as it was read",
        "src/hr_connector/clients/sftp/__init__.py",
        'raise still(f"{change} during the download")',
        "pass  # MUTATION",
        ("tests/test_sftp_whole_files.py", "-k", "during_the_download"),
    ),
    Break(
        "attachment-cap-per-file-only",
        "the attachment cap is applied to each small file alone, not to their total",
        "src/hr_connector/attachments.py",
        "                room -= size\n",
        "                pass  # MUTATION\n",
        ("tests/test_attachments.py", "-k", "each_fit"),
    ),
)


@dataclass
class Outcome:
    brk: Break
    status: str  # CAUGHT, SURVIVED, NOT APPLIED, BASELINE FAILS, ERROR
    failing: list[str] = field(default_factory=list)
    seconds: float = 0.0
    detail: str = ""


def _repo_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return sorted({f for f in out.split("\0") if f and (REPO / f).is_file()})


def make_copy(dest: Path) -> Path:
    """Copy the working tree's files to ``dest`` and link the mapped packages into place."""
    for name in _repo_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    for name in MAPPED:
        link = dest / "src" / "hr_connector" / name
        if not link.exists():
            link.symlink_to(Path("../..") / name, target_is_directory=True)
    return dest


def copy_env(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(copy / "src"), str(copy), *filter(None, [env.get("PYTHONPATH")])]
    )
    env.pop("PYTEST_ADDOPTS", None)
    return env


_WHERE = """
import importlib, importlib.resources, pkgutil
import hr_connector
print(hr_connector.__path__[0])  # a namespace package: its first folder decides
for info in pkgutil.walk_packages(hr_connector.__path__[:1], "hr_connector."):
    if info.name.startswith(("hr_connector.flows", "hr_connector.tasks")):
        continue  # imported below, once their package is
    print(importlib.import_module(info.name).__file__)
for name in ("hr_connector.flows.hr_import", "hr_connector.tasks", "hr_connector.translations"):
    print(importlib.import_module(name).__file__)
print(importlib.resources.files("hr_connector.translations") / "translation.json")
"""


def check_imports(copy: Path) -> None:
    """Every module and the translation file must come from the copy, not the working tree."""
    out = subprocess.run(
        [sys.executable, "-c", _WHERE],
        cwd=copy,
        env=copy_env(copy),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    wrong = [p for p in out if not Path(p).resolve().is_relative_to(copy.resolve())]
    if wrong or len(out) < 20:
        raise SystemExit(f"the copy is not what Python imports: {wrong or out}")


def apply(brk: Break, root: Path) -> str | None:
    """Apply ``brk`` under ``root``; the original text, or None with a reason printed."""
    path = root / brk.path
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    if text.count(brk.anchor) < 1:
        return None
    if brk.path.endswith(".json"):  # the first occurrence: data files repeat their words
        path.write_text(text.replace(brk.anchor, brk.replacement, 1), encoding="utf-8")
        return text
    if text.count(brk.anchor) != 1:
        return None
    path.write_text(text.replace(brk.anchor, brk.replacement), encoding="utf-8")
    return text


def anchor_problem(brk: Break, root: Path = REPO) -> str:
    """Why ``brk`` cannot be applied to the files under ``root`` ("" when it can)."""
    path = root / brk.path
    if not path.is_file():
        return f"{brk.path} does not exist"
    count = path.read_text(encoding="utf-8").count(brk.anchor)
    if count == 0:
        return f"anchor not found in {brk.path}"
    if count > 1 and not brk.path.endswith(".json"):
        return f"anchor found {count} times in {brk.path} (must be once)"
    return ""


def run_tests(copy: Path, tests: tuple[str, ...], timeout: float) -> tuple[int, list[str], str]:
    """Run ``tests`` in the copy: (pytest's exit code, failing test ids, output tail)."""
    report = copy / ".mutation-junit.xml"
    report.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    cmd += [f"--junitxml={report}", *tests]
    try:
        proc = subprocess.run(
            cmd, cwd=copy, env=copy_env(copy), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return -1, [], f"timed out after {timeout:.0f} s"
    failing: list[str] = []
    if report.exists():
        for case in ET.parse(report).getroot().iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failing.append(f"{case.get('classname', '')}::{case.get('name', '')}")
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
    return proc.returncode, failing, tail


def compact(test_ids: list[str]) -> list[str]:
    """``file::test[a]``, ``file::test[b]`` -> ``file::test[a, b]`` (module prefix dropped)."""
    grouped: dict[str, list[str]] = {}
    for test_id in test_ids:
        base, _, param = test_id.partition("[")
        base = base.removeprefix("tests.")
        grouped.setdefault(base, [])
        if param:
            grouped[base].append(param.rstrip("]"))
    return [f"{base}[{', '.join(params)}]" if params else base for base, params in grouped.items()]


def run_break(brk: Break, copy: Path) -> Outcome:
    problem = anchor_problem(brk, copy)
    if problem:
        return Outcome(brk, "NOT APPLIED", detail=problem)
    original = apply(brk, copy)
    assert original is not None
    started = time.monotonic()
    try:
        code, failing, tail = run_tests(copy, brk.tests, brk.timeout)
    finally:
        (copy / brk.path).write_text(original, encoding="utf-8")
    seconds = time.monotonic() - started
    if code == 0:
        return Outcome(brk, "SURVIVED", seconds=seconds, detail=tail)
    if failing:
        return Outcome(brk, "CAUGHT", failing, seconds)
    return Outcome(brk, "ERROR", seconds=seconds, detail=f"pytest exit {code}\n{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these breaks")
    parser.add_argument("--list", action="store_true", help="list the breaks and exit")
    parser.add_argument("--check", action="store_true", help="only check that every break applies")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unbroken runs")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy")
    args = parser.parse_args(argv)

    breaks = [b for b in BREAKS if not args.only or b.name in args.only]
    unknown = set(args.only or ()) - {b.name for b in BREAKS}
    if unknown:
        parser.error(f"unknown breaks: {', '.join(sorted(unknown))}")
    if args.list:
        for b in breaks:
            print(f"{b.name:40} {b.path:36} {' '.join(b.tests)}\n{'':40} {b.what}")
        return 0
    problems = [(b.name, anchor_problem(b)) for b in breaks]
    problems = [(n, p) for n, p in problems if p]
    for name, problem in problems:
        print(f"!!! NOT APPLIED: {name}: {problem}", file=sys.stderr)
    if args.check:
        print(f"{len(breaks) - len(problems)} of {len(breaks)} breaks apply to the working tree")
        return 1 if problems else 0

    scratch = Path(tempfile.mkdtemp(prefix="hr-connector-mutations-"))
    try:
        copy = make_copy(scratch / "repo")
        check_imports(copy)
        print(f"copy: {copy} (imported from the copy: checked)", flush=True)
        baseline_failures: dict[tuple[str, ...], str] = {}
        if not args.no_baseline:
            for tests in dict.fromkeys(b.tests for b in breaks if not anchor_problem(b, copy)):
                code, failing, tail = run_tests(copy, tests, 900)
                status = "ok" if code == 0 else f"FAILS: {failing or tail}"
                print(f"baseline {' '.join(tests)}: {status}", flush=True)
                if code != 0:
                    baseline_failures[tests] = status
        outcomes = []
        for brk in breaks:
            if brk.tests in baseline_failures:
                outcome = Outcome(brk, "BASELINE FAILS", detail=baseline_failures[brk.tests])
            else:
                outcome = run_break(brk, copy)
            outcomes.append(outcome)
            shown = "; ".join(compact(outcome.failing)) or outcome.detail.splitlines()[-1:] or ""
            print(f"{outcome.status:14} {brk.name} ({outcome.seconds:.0f} s): {shown}", flush=True)
    finally:
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    print("\n| break | what it removes | result | failing tests |\n|---|---|---|---|")
    for o in outcomes:
        failing = (
            "<br>".join(compact(o.failing))
            if o.failing
            else o.detail.splitlines()[0]
            if o.detail
            else ""
        )
        print(f"| {o.brk.name} | {o.brk.what} | {o.status} | {failing} |")
    bad = [o for o in outcomes if o.status != "CAUGHT"]
    for o in bad:
        print(f"\n!!! {o.status}: {o.brk.name}\n{o.detail}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
