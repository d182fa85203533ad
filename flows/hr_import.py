"""The HR import, in the order it runs: read :func:`hr_import` first.

:func:`hr_import` is the import's one sequence: fetch → check file → parse → validate → check
rows → compare → guard → changes → publish → keep and file the admin task → archive the remote
file. Every call is one step of an :class:`~hr_connector.pipeline.ImportRun`, which calls the
injected step (:class:`~hr_connector.pipeline.Steps`, each typed by a Protocol) and keeps what the
admin task needs:

- in the Prefect flows (``hr_import_costcenter``, ``hr_import_organization``, ``hr_import_title``,
  ``hr_import_workperiod``, made in :mod:`hr_connector.flows.prefect_flows`) the steps are the
  task wrappers (``hr_connector.tasks.PREFECT_STEPS``): each call is a task run in the UI,
  ``fetch-hr-file → check-file-quality → parse-hr-file → validate-rows → check-data-quality →
  compare-with-archive → guard-import → list-changes (partial run) → publish-files →
  keep-admin-task → file-admin-task → archive-remote-file``;
- in the EPE script's plain mode (``runner.run_plain``), tests and benchmarks
  (``pipeline.run_import``) they are the plain step functions (``pipeline.PLAIN_STEPS``), and
  Prefect is never imported: this module imports no Prefect; the flows are made on first use
  (``from hr_connector.flows.hr_import import hr_import_title`` as before, and the deployments'
  entrypoints ``hr_connector.flows.hr_import:hr_import_<data type>``).

A stop (a missing file, a bad header, an exceeded limit…) ends the ``deciding`` block: the run is
interrupted, publishing clears the stale output instead of writing, and the admin task says why.
The run lock, the log file, a dry run, approval, and the retry of a run whose admin task is still
to file are around the sequence, not in it: see :func:`hr_connector.pipeline.run_import` and
:mod:`hr_connector.flows.prefect_flows`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hr_connector.pipeline import ImportRun


def hr_import(run: ImportRun) -> None:
    """One import, step by step; each call is a step (a Prefect task run in a flow)."""
    with run.deciding():  # a stop ends this block: the run is interrupted, nothing is imported
        run.lock()  # another run of this task refuses this one: it touches no file
        source = run.fetch()
        run.check_file_quality(source)
        table = run.parse(source)
        blocked = run.validate(table)
        blocked = run.check_data_quality(table, blocked)
        changeset = run.compare(table, blocked)
        run.guard(table, changeset)  # too many changes, too few rows: the import is refused
        run.list_changes(table, changeset)  # a partial run's changes, for the admin
    run.publish()  # the decided files; an interrupted run only clears the stale output
    run.keep_and_file_admin_task()  # what the run decided and why
    run.archive_remote_file()  # a completed run moves the SFTP file to its archive folder
    run.end()  # recorded for a retry; the output is handed over to the platform


#: the names :mod:`hr_connector.flows.prefect_flows` defines, imported on first use
_PREFECT_NAMES = frozenset(
    {
        "FLOWS",
        "RunNotCompleted",
        "RunType",
        "hr_import_costcenter",
        "hr_import_organization",
        "hr_import_title",
        "hr_import_workperiod",
        "import_body",
        "run_flow",
    }
)


def __getattr__(name: str) -> Any:
    """The Prefect flows, imported (with Prefect) only when asked for."""
    if name in _PREFECT_NAMES:
        from hr_connector.flows import prefect_flows

        return getattr(prefect_flows, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
