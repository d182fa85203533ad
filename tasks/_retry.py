"""Retry policy for the steps that touch the network."""

from __future__ import annotations

from typing import Any

from hr_connector.errors import TransientError

#: Delays between attempts, in seconds: backoff for a server that is briefly away.
NETWORK_RETRY_DELAYS = [2, 10, 30]


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry refused/reset/timed-out connections and 5xx answers; never auth or bad input."""
    try:
        state.result()
    except TransientError:
        return True
    except Exception:
        return False
    return False
