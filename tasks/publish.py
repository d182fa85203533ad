"""Task: write the output and the archives atomically, or clear a stale output."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from hr_connector import pipeline

publish_files = task(
    pipeline.publish_files, name="publish-files", cache_policy=NO_CACHE, persist_result=False
)
