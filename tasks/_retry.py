"""Retry policy for the steps that touch the network (SFTP, the ESM Web API)."""

from __future__ import annotations

import os
from typing import Any

from hr_connector.errors import TransientError


def _delays() -> list[float]:
    """Seconds between attempts: backoff for a server that is briefly away.

    ``HR_CONNECTOR_RETRY_DELAYS`` ("2,10,30") changes them, e.g. to shorten tests.
    """
    text = os.environ.get("HR_CONNECTOR_RETRY_DELAYS", "2,10,30")
    return [float(x) for x in text.split(",") if x.strip()]


NETWORK_RETRY_DELAYS = _delays()


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry refused/reset/timed-out connections and 5xx answers; never auth or bad input."""
    try:
        state.result()
    except TransientError:
        return True
    except Exception:
        return False
    return False
