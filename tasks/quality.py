"""Prefect tasks of the data-quality checks (no retries: they touch no network)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from hr_connector.quality.steps import check_file_quality as _check_file_quality
from hr_connector.quality.steps import check_row_quality as _check_row_quality

check_file_quality = task(
    _check_file_quality, name="check-file-quality", cache_policy=NO_CACHE, persist_result=False
)
check_row_quality = task(
    _check_row_quality, name="check-data-quality", cache_policy=NO_CACHE, persist_result=False
)
