"""Task: read the HR file into rows (CSV, JSON or flat XML)."""

from __future__ import annotations

from hr_connector import pipeline
from hr_connector.tasks._options import step_task

parse_hr_file = step_task(pipeline.parse_file, "parse-hr-file")
