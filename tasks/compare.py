"""Task: compare the valid rows with the previous run's archive (partial run)."""

from __future__ import annotations

from hr_connector import pipeline
from hr_connector.tasks._options import step_task

compare_with_archive = step_task(pipeline.compare_rows, "compare-with-archive")
