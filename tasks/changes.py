"""Task: list a partial run's new, changed and removed rows for the admin's review."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from hr_connector import pipeline

list_changes = task(
    pipeline.list_changes, name="list-changes", cache_policy=NO_CACHE, persist_result=False
)
