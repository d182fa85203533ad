"""Task: refuse dangerous imports (too few rows, update limit)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from hr_connector import pipeline
from hr_connector.tasks._stops import stops_as_failed

guard_import = task(
    stops_as_failed(pipeline.guard_import),
    name="guard-import",
    cache_policy=NO_CACHE,
    persist_result=False,
)
