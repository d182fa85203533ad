"""Task: fetch the HR file (SFTP download when configured, then the local glob)."""

from __future__ import annotations

from hr_connector import pipeline
from hr_connector.tasks._options import step_task

fetch_hr_file = step_task(pipeline.fetch_file, "fetch-hr-file", network=True)
archive_remote_file = step_task(pipeline.archive_remote_file, "archive-remote-file", network=True)
