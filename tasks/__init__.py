"""Prefect tasks: thin, named wrappers around the step functions of :mod:`hr_connector.pipeline`.

Only the steps that touch the network (fetch, remote archive move, filing the admin task) retry,
and only on transient errors. No task caches or persists its result: results hold personal data.
"""

from __future__ import annotations

from prefect.utilities.annotations import quote

from hr_connector.pipeline import Steps
from hr_connector.tasks.changes import list_changes
from hr_connector.tasks.compare import compare_with_archive
from hr_connector.tasks.fetch import archive_remote_file, fetch_hr_file
from hr_connector.tasks.guard import guard_import
from hr_connector.tasks.parse import parse_hr_file
from hr_connector.tasks.publish import publish_files
from hr_connector.tasks.quality import check_file_quality, check_row_quality
from hr_connector.tasks.report import file_admin_task, keep_admin_task
from hr_connector.tasks.validate import validate_rows

PREFECT_STEPS = Steps(
    fetch=fetch_hr_file,
    parse=parse_hr_file,
    validate=validate_rows,
    compare=compare_with_archive,
    guard=guard_import,
    changes=list_changes,
    publish=publish_files,
    keep_report=keep_admin_task,
    file_report=file_admin_task,
    archive_remote=archive_remote_file,
    quote=quote,
    check_file=check_file_quality,
    check_rows=check_row_quality,
)

__all__ = ["PREFECT_STEPS"]
