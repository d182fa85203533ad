"""The data-quality steps of the import's sequence (:func:`hr_connector.flows.hr_import.hr_import`:
check file after fetch, check rows after validate); plain, typed functions that
``tasks/quality.py`` wraps as Prefect tasks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from itertools import compress, count
from pathlib import Path
from typing import Any

from hr_connector.params import ConnectorParams
from hr_connector.quality import archives, carry, checks, helper, incremental
from hr_connector.quality.findings import CheckRun
from hr_connector.quality.settings import QualitySettings
from hr_connector.records import Reason, Table, Value
from hr_connector.schemas import RunSchema
from hr_connector.workdir import WorkDir

log = logging.getLogger("hr_connector.quality")

#: Findings written to the log per check (all of them are counted).
MAX_LOGGED = 20


def check_file_quality(params: ConnectorParams, workdir: WorkDir, source: Path) -> list[CheckRun]:
    """The file-level checks; a ``block`` finding raises the run's interruption."""
    return checks.check_file(QualitySettings.from_params(params), workdir, source)


def begin_row_checks(
    source: Path, schema: RunSchema, params: ConnectorParams, workdir: WorkDir
) -> helper.Job | None:
    """As parsing begins: the costliest parts of a large file's full check begin in a helper
    process, beside parsing and validation (:func:`.checks.begin`); None:
    :func:`check_row_quality` does all of it."""
    settings = QualitySettings.from_params(params)
    unique_id, delimiter = params.unique_id, params.csv_delimiter
    return checks.begin(source, schema, settings, unique_id, delimiter, workdir)


def check_row_quality(
    table: Table,
    blocked: dict[int, list[Reason]],
    schema: RunSchema,
    params: ConnectorParams,
    workdir: WorkDir,
    early: helper.Job | None = None,
) -> checks.QualityOutcome:
    """The row-level checks; the reasons of ``block`` findings come back to be merged.
    ``early``: what :func:`begin_row_checks` began."""
    settings = QualitySettings.from_params(params)
    outcome = checks.check_rows(table, schema, blocked, settings, workdir, params.unique_id, early)
    for run in outcome.runs:
        if run.skipped:
            continue
        log.info("Data quality %s (%s): %d finding(s)", run.check, run.severity, len(run.findings))
        for finding in run.findings[:MAX_LOGGED]:
            where = ", ".join(table.position(i) for i in finding.rows)
            log.info("Data quality %s: %s: %s", run.check, where, finding.reason.english())
    return outcome


def merged(
    blocked: dict[int, list[Reason]], more: dict[int, list[Reason]]
) -> dict[int, list[Reason]]:
    """Validation's blocked rows with the quality checks' ``block`` reasons added after theirs."""
    if not more:
        return blocked
    out = {i: list(r) for i, r in blocked.items()}
    for i, reasons in more.items():
        out.setdefault(i, []).extend(reasons)
    return out


def remember_file(
    params: ConnectorParams,
    workdir: WorkDir,
    source: Path,
    schema: RunSchema,
    runs: list[CheckRun],
    table: Table | None,
    blocked: dict[int, list[Reason]],
) -> None:
    """After a completed run (not a dry run): what the next runs' checks compare against."""
    sha256 = next((r.sha256 for r in runs if r.sha256), None)
    national = None
    ran = next((r for r in runs if r.check == "national_ids"), None)
    if ran is not None and table is not None and params.quality.national_id_country:
        key = table.columns.index(schema.key_column)
        flagged = [table.rows[i][key] or "" for f in ran.findings for i in f.rows]
        column = schema.columns.get("national_id", "national_id")
        national = carry.verdicts(workdir, params.quality.national_id_country, column, flagged)
    persons = None
    change = None
    person = checks.person_column(schema, params.unique_id)
    settings = QualitySettings.from_params(params)
    wanted = schema.data_type == "workperiod" and settings.on("references")
    if wanted and table is not None and person in table.columns:
        column = table.columns.index(person)
        packed = next((r.persons for r in runs if r.persons is not None), None)
        read = packed.values if packed is not None else None
        persons = partial(_imported, table, column, blocked, read)
        change = _persons_change(workdir, runs, table, column, blocked)
        helper_job = next((r.fingerprints for r in runs if r.fingerprints is not None), None)
        made = None
        if change is None and helper_job is not None:
            made = helper_job.fingerprints(table, checks.helper_names(helper_job, schema))
        if made is not None:
            persons = partial(_fingerprinted, made, table, column, blocked, read)
    kept = _incremental(params, workdir, schema, runs, table, blocked)
    try:
        checks.remember_file(
            workdir, source, schema, person, sha256, national, persons, kept, change
        )
    except OSError as exc:  # the run's decision stands; the next run only checks less
        log.warning("Could not keep the file's fingerprint for the next run: %s", exc)


def _incremental(
    params: ConnectorParams,
    workdir: WorkDir,
    schema: RunSchema,
    runs: list[CheckRun],
    table: Table | None,
    blocked: dict[int, list[Reason]],
) -> dict[str, Any] | None:
    """What the next run needs to check incrementally (:mod:`.incremental`), or None."""
    columns = next((r.columns for r in runs if r.columns), None)
    if table is None or table.digests is None or not columns:
        return None  # only a fast table is matched against the archive next time
    findings: dict[str, Any] = {"blocked": sorted(blocked)}
    for run in runs:
        findings.update(run.kept or {})
    expected = checks.incremental_settings(table, schema, params.unique_id)
    try:
        return incremental.keep(
            workdir.archive_dir, table, columns, findings, expected, carry.archives_now(workdir)
        )
    except OSError as exc:  # the next run checks every row
        log.warning("Could not keep the data-quality findings for the next run: %s", exc)
        return None


def _persons_change(
    workdir: WorkDir,
    runs: list[CheckRun],
    table: Table,
    column: int,
    blocked: dict[int, list[Reason]],
) -> tuple[set[Value], set[Value]] | None:
    """(added, removed): how this run's imported persons differ from those the kept person
    fingerprints were written from, when this run was checked incrementally against the run
    that wrote them; None: write them all again.

    An imported row that equals one of the last run's rows (``hits``: imported rows only) has
    that row's person, so only the persons of this run's other imported rows may be new
    (``added``: the fingerprints already kept stay once), and only the persons of the last
    run's imported rows that no imported row equals now may be gone: those that no imported
    row still has. No set of a million persons is built.
    """
    prev = next((r.previous for r in runs if r.previous is not None), None)
    if prev is None or "person" not in prev.columns or "blocked" not in prev.kept:
        return None
    state = archives.read_state(workdir.archive_dir, workdir.data_type)
    if state.get("persons_archives") != prev.kept.get("archives"):
        return None
    still = prev.hit()  # the last run's rows an imported row of this run equals
    for i in blocked:  # a blocked row is not imported, whatever it equals
        if prev.hits[i] != incremental.MISS:
            still[prev.hits[i]] = 0
    gone = still.translate(_FLIP)
    for j in prev.kept["blocked"]:
        gone[j] = 0
    last = prev.columns["person"]
    candidates = set(compress(last, gone))
    pairs = zip(prev.misses, prev.miss_rows(table), strict=True)
    added = {row[column] for i, row in pairs if i not in blocked}
    if not candidates:
        return added, set()
    candidates.difference_update(added)
    candidates.difference_update(candidates.intersection(compress(last, still)))
    return added, candidates


#: 0 <-> 1, for ``bytes.translate``
_FLIP = bytes.maketrans(b"\x00\x01", b"\x01\x00")


def _imported(
    table: Table,
    column: int,
    blocked: dict[int, list[Reason]],
    read: Callable[[], Sequence[Value]] | None = None,
) -> Sequence[Value]:
    """The column's values (``read()``, if already read) in the rows that were imported."""
    values = table.column(column) if read is None else read()
    if not blocked:
        return values
    keep = bytearray(b"\x01") * len(values)
    for i in blocked:
        keep[i] = 0
    return list(compress(values, keep))


def _fingerprinted(
    fingerprints: bytes,
    table: Table,
    column: int,
    blocked: dict[int, list[Reason]],
    read: Callable[[], Sequence[Value]] | None = None,
) -> archives.Fingerprints:
    """The imported persons' fingerprints, from those of every person of the file (made by the
    helper process): without the persons all of whose rows are blocked."""
    values = table.column(column) if read is None else read()
    of_blocked = {values[i] for i in blocked}
    if of_blocked:
        imported = compress(count(), map(of_blocked.__contains__, values))
        of_blocked.difference_update({values[i] for i in imported if i not in blocked})
    return archives.Fingerprints(fingerprints, removed=of_blocked)
