"""Task: read the HR file into rows (CSV, JSON or flat XML)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from hr_connector import pipeline
from hr_connector.tasks._stops import stops_as_failed

parse_hr_file = task(
    stops_as_failed(pipeline.parse_file),
    name="parse-hr-file",
    cache_policy=NO_CACHE,
    persist_result=False,
)
