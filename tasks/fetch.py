"""Task: fetch the HR file (SFTP download when configured, then the local glob)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from hr_connector import pipeline
from hr_connector.tasks._retry import NETWORK_RETRY_DELAYS, retry_transient
from hr_connector.tasks._stops import stops_as_failed

fetch_hr_file = task(
    stops_as_failed(pipeline.fetch_file),
    name="fetch-hr-file",
    retries=len(NETWORK_RETRY_DELAYS),
    retry_delay_seconds=NETWORK_RETRY_DELAYS,
    retry_condition_fn=retry_transient,
    cache_policy=NO_CACHE,
    persist_result=False,
)
archive_remote_file = task(
    stops_as_failed(pipeline.archive_remote_file),
    name="archive-remote-file",
    retries=len(NETWORK_RETRY_DELAYS),
    retry_delay_seconds=NETWORK_RETRY_DELAYS,
    retry_condition_fn=retry_transient,
    cache_policy=NO_CACHE,
    persist_result=False,
)
