"""Prefect tasks of the data-quality checks (no retries: they touch no network).

A ``block`` file-level finding (the same file again, a file too old) is an expected stop: the task
run ends Failed with the reason and no traceback (:func:`..._stops.stops_as_failed`), and
:class:`~hr_connector.tasks._stops.StepCall` (``tasks/__init__.py``) turns that state back into
the interruption the plain step raises. Without ``StepCall`` the pipeline would get the Failed
state object itself as the step's value.
"""

from __future__ import annotations

from hr_connector.quality.steps import check_file_quality as _check_file_quality
from hr_connector.quality.steps import check_row_quality as _check_row_quality
from hr_connector.tasks._options import step_task

check_file_quality = step_task(_check_file_quality, "check-file-quality")
check_row_quality = step_task(_check_row_quality, "check-data-quality")
