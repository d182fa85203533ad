"""Retry policy for the steps that touch the network (SFTP, the ESM Web API)."""

from __future__ import annotations

from typing import Any

from hr_connector.errors import TransientError, retry_delays

NETWORK_RETRY_DELAYS = retry_delays()


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry refused/reset/timed-out connections and 5xx answers; never auth or bad input."""
    try:
        state.result()
    except TransientError:
        return True
    except Exception:
        return False
    return False
