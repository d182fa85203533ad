"""Prefect tasks: thin, named wrappers around the step functions of :mod:`hr_connector.pipeline`.

Every task is made by :func:`._options.step_task`, where the options they share are defined once:
only the steps that touch the network (fetch, remote archive move, filing the admin task) retry,
and only on transient errors; a step that stops the run ends Failed with the reason (``_stops``);
no task caches or persists its result: results hold personal data.
"""

from __future__ import annotations

from prefect.utilities.annotations import quote

from hr_connector.pipeline import Steps
from hr_connector.tasks._stops import StepCall
from hr_connector.tasks.changes import list_changes
from hr_connector.tasks.compare import compare_with_archive
from hr_connector.tasks.fetch import archive_remote_file, fetch_hr_file
from hr_connector.tasks.guard import guard_import
from hr_connector.tasks.parse import parse_hr_file
from hr_connector.tasks.publish import publish_files
from hr_connector.tasks.quality import check_file_quality, check_row_quality
from hr_connector.tasks.report import file_admin_task, keep_admin_task
from hr_connector.tasks.validate import validate_rows

#: The import's steps as Prefect tasks, in the order the flow's body calls them
#: (:func:`hr_connector.pipeline.hr_import`).
PREFECT_STEPS = Steps(
    fetch=StepCall(fetch_hr_file),
    check_file=StepCall(check_file_quality),
    parse=StepCall(parse_hr_file),
    validate=StepCall(validate_rows),
    check_rows=StepCall(check_row_quality),
    compare=StepCall(compare_with_archive),
    guard=StepCall(guard_import),
    changes=StepCall(list_changes, stops_run=False),
    publish=StepCall(publish_files, stops_run=False),
    keep_report=StepCall(keep_admin_task, stops_run=False),
    file_report=StepCall(file_admin_task, stops_run=False),
    archive_remote=StepCall(archive_remote_file, stops_run=False),
    quote=quote,
)

__all__ = ["PREFECT_STEPS"]
