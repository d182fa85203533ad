"""Task: refuse dangerous imports (too few rows, update limit)."""

from __future__ import annotations

from hr_connector import pipeline
from hr_connector.tasks._options import step_task

guard_import = step_task(pipeline.guard_import, "guard-import")
