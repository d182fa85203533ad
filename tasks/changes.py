"""Task: list a partial run's new, changed and removed rows for the admin's review."""

from __future__ import annotations

from hr_connector import pipeline
from hr_connector.tasks._options import step_task

list_changes = step_task(pipeline.list_changes, "list-changes", stops=False)
