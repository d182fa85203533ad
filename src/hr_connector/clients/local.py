"""Report sinks that file nothing remotely: the admin task stays in its local files."""

from __future__ import annotations

from hr_connector.outcome import AdminTask


class LocalOnlySink:
    """Keeps the admin task only as ``<taskid>_admin_task.json``/``.md`` (tests, offline runs)."""

    refused: tuple[str, ...] = ()

    def file(self, task: AdminTask) -> str:
        return f"local:{task.task_id}_admin_task.json"
