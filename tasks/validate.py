"""Task: validate every row and collect all reasons a row is blocked."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from hr_connector import pipeline
from hr_connector.tasks._stops import stops_as_failed

validate_rows = task(
    stops_as_failed(pipeline.validate_rows),
    name="validate-rows",
    cache_policy=NO_CACHE,
    persist_result=False,
)
