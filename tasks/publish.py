"""Task: write the output and the archives atomically, or clear a stale output."""

from __future__ import annotations

from hr_connector import pipeline
from hr_connector.tasks._options import step_task
from hr_connector.tasks._stops import publish_run_name

publish_files = step_task(pipeline.publish_files, "publish-files", task_run_name=publish_run_name)
