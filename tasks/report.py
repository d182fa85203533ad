"""Tasks: keep the admin task locally, then file it in the ESM (with retries)."""

from __future__ import annotations

from hr_connector import pipeline
from hr_connector.tasks._options import step_task

keep_admin_task = step_task(pipeline.write_admin_task, "keep-admin-task")
file_admin_task = step_task(pipeline.file_admin_task, "file-admin-task", network=True)
