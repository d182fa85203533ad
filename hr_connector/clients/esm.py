"""PLACEHOLDER until the ESM client lands: files nothing remotely."""

from __future__ import annotations

from hr_connector.clients.local import LocalOnlySink
from hr_connector.params import WebApiSettings
from hr_connector.report import ReportSink


def sink_for(settings: WebApiSettings) -> ReportSink:
    return LocalOnlySink()
