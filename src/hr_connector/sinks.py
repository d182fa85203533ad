"""Choose where the admin task is filed: the ESM REST API (default), the legacy XML API, or
nowhere (a dry run)."""

from __future__ import annotations

from hr_connector.outcome import AdminTask
from hr_connector.params import ConnectorParams
from hr_connector.report import ReportSink
from hr_connector.texts import Translations


class LocalOnlySink:
    """Keeps the admin task only as ``<taskid>_admin_task.json``/``.md`` (tests, offline runs)."""

    refused: tuple[str, ...] = ()

    def file(self, task: AdminTask) -> str:
        return f"local:{task.task_id}_admin_task.json"


def make_sink(params: ConnectorParams, translations: Translations | None = None) -> ReportSink:
    if params.dry_run:
        return LocalOnlySink()
    from hr_connector.clients import esm

    return esm.sink_for(params.webapi, translations, params.retry_delays)
