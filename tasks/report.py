"""Tasks: keep the admin task locally, then file it in the ESM (with retries)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from hr_connector import pipeline
from hr_connector.tasks._retry import NETWORK_RETRY_DELAYS, retry_transient
from hr_connector.tasks._stops import stops_as_failed

keep_admin_task = task(
    stops_as_failed(pipeline.write_admin_task),
    name="keep-admin-task",
    cache_policy=NO_CACHE,
    persist_result=False,
)
file_admin_task = task(
    stops_as_failed(pipeline.file_admin_task),
    name="file-admin-task",
    retries=len(NETWORK_RETRY_DELAYS),
    retry_delay_seconds=NETWORK_RETRY_DELAYS,
    retry_condition_fn=retry_transient,
    cache_policy=NO_CACHE,
    persist_result=False,
)
