"""Task: compare the valid rows with the previous run's archive (partial run)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from hr_connector import pipeline
from hr_connector.tasks._stops import stops_as_failed

compare_with_archive = task(
    stops_as_failed(pipeline.compare_rows),
    name="compare-with-archive",
    cache_policy=NO_CACHE,
    persist_result=False,
)
