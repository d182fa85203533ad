"""Choose where the admin task is filed: the ESM REST API (default), the legacy XML API."""

from __future__ import annotations

from hr_connector.clients.local import LocalOnlySink
from hr_connector.params import ConnectorParams
from hr_connector.report import ReportSink
from hr_connector.texts import Translations


def make_sink(params: ConnectorParams, translations: Translations | None = None) -> ReportSink:
    if params.dry_run:
        return LocalOnlySink()
    from hr_connector.clients import esm

    return esm.sink_for(params.webapi, translations, params.retry_delays)
