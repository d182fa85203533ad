"""Prefect tasks of the data-quality checks (no retries: they touch no network)."""

from __future__ import annotations

from hr_connector.quality.steps import check_file_quality as _check_file_quality
from hr_connector.quality.steps import check_row_quality as _check_row_quality
from hr_connector.tasks._options import step_task

check_file_quality = step_task(_check_file_quality, "check-file-quality", stops=False)
check_row_quality = step_task(_check_row_quality, "check-data-quality", stops=False)
