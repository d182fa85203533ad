"""Task: write the output and the archives atomically, or clear a stale output."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from hr_connector import pipeline
from hr_connector.tasks._stops import publish_run_name, stops_as_failed

publish_files = task(
    stops_as_failed(pipeline.publish_files),
    name="publish-files",
    task_run_name=publish_run_name,
    cache_policy=NO_CACHE,
    persist_result=False,
)
