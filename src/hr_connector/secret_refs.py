"""Secret values never travel as Prefect flow-run parameters (Prefect stores and shows them).

A secret key carries a reference there, resolved inside the run: ``env:NAME`` (an environment
variable), ``prefect-secret:NAME`` (a Prefect ``Secret`` block), ``memory:ID`` (handed over
in-process by the EPE wrapper, never written). A secret key left out falls back to
``HR_CONNECTOR_<KEY>`` from the environment (``HR_CONNECTOR_WEBAPI_PASSWORD``…).
"""

from __future__ import annotations

import os
import secrets as _random
import threading
from collections.abc import Mapping
from typing import Any

from hr_connector.errors import ParametersInvalid
from hr_connector.params import SECRET_KEYS

_vault: dict[str, str] = {}
_lock = threading.Lock()
PREFIXES = ("env:", "prefect-secret:", "memory:")


def is_reference(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIXES)


def stash(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Replace each secret value by an in-memory reference (for in-process flow runs)."""
    out = dict(raw)
    for key in SECRET_KEYS:
        value = out.get(key)
        if value in (None, "") or is_reference(value):
            continue
        ref = f"memory:{_random.token_hex(12)}"
        with _lock:
            _vault[ref] = str(value)
        out[key] = ref
    return out


def resolve(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters with every secret reference replaced by its value."""
    out = dict(raw)
    problems: dict[str, str] = {}
    for key in SECRET_KEYS:
        value = out.get(key)
        if value in (None, ""):
            env = os.environ.get(f"HR_CONNECTOR_{key.upper()}")
            if env:
                out[key] = env
            continue
        if not is_reference(value):
            continue
        try:
            out[key] = _lookup(str(value))
        except LookupError as exc:
            problems[key] = str(exc)
    if problems:
        raise ParametersInvalid([], problems)
    return out


def _lookup(ref: str) -> str:
    kind, _, name = ref.partition(":")
    if kind == "env":
        if name not in os.environ:
            raise LookupError(f"the environment variable {name} is not set")
        return os.environ[name]
    if kind == "memory":
        with _lock:
            if ref not in _vault:
                raise LookupError("the in-process secret is gone (rerun from the wrapper)")
            return _vault[ref]
    try:
        from prefect.blocks.system import Secret

        block = Secret.load(name)
        if not isinstance(block, Secret):  # a coroutine: called inside an event loop
            raise TypeError("loaded inside an event loop")
        return str(block.get())
    except Exception as exc:
        raise LookupError(
            f"the Prefect Secret block {name!r} cannot be loaded ({type(exc).__name__})"
        ) from None
