"""Task: validate every row and collect all reasons a row is blocked."""

from __future__ import annotations

from hr_connector import pipeline
from hr_connector.tasks._options import step_task

validate_rows = step_task(pipeline.validate_rows, "validate-rows")
