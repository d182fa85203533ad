"""Shared fixtures: sample data, a working directory, parameters, and a real Prefect server.

Prefect never touches the developer's ``~/.prefect``: every test session gets its own
PREFECT_HOME, with telemetry off. Flow tests use one session-wide ``prefect_test_harness``
(a real temporary Prefect server on loopback), started only when a test asks for it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_HOME = tempfile.mkdtemp(prefix="hr-connector-prefect-")
os.environ["PREFECT_HOME"] = _HOME
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_TO_API_BATCH_INTERVAL", "0.3")
os.environ.pop("PREFECT_API_URL", None)
os.environ.setdefault("HR_CONNECTOR_RETRY_DELAYS", "0.2,0.2,0.2")

#: the real sshd fixtures (sshd_server, sftp_env, sftp_client_key)
pytest_plugins = ["conftest_sftp"]

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
WEBAPI_PASSWORD = "Webapi-Secret-7f3a9"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first: with one worker per CPU taking whole files in this order
    (``./dev test``), the longest files start at once instead of ending the run alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    wd = tmp_path / "work"
    wd.mkdir()
    return wd


def place(workdir: Path, source: Path, folder: str = "in") -> Path:
    target = workdir / folder
    target.mkdir(parents=True, exist_ok=True)
    for old in target.iterdir():
        old.unlink()
    return Path(shutil.copy(source, target))


def base_raw(data_type: str = "workperiod", fmt: str = "csv", **extra: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "file_path": f"in/*.{fmt}",
        "data_type": data_type,
        "update_limit": 100,
        "run_type": "full",
        "webapi_url": "http://127.0.0.1:9",
        "webapi_user": "iga.webapi",
        "webapi_password": WEBAPI_PASSWORD,
        "report_template_code": "IGAWorkflowTaskInformation",
        # the small files of these tests block most rows on purpose; the stop of a mostly
        # blocked file has its own tests (test_vendor_files.py)
        "max_blocked_share": 1,
    }
    raw.update(extra)
    return raw


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    """A real Prefect server (temporary SQLite database) for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        from prefect.settings import PREFECT_API_URL

        yield str(PREFECT_API_URL.value())


ESM_USER = "iga.webapi"


def _start_sandbox(root: Path, **options: Any) -> Any:
    from esm_sandbox import EsmSandbox

    from esm_server import PASSWORD, USER

    options.setdefault("users", {USER: PASSWORD})
    return EsmSandbox(root, **options).start()


@pytest.fixture
def start_esm(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start a local ESM: ``start_esm(root=None, **EsmSandbox options)`` (the test user
    ``esm_server.USER`` by default). Every sandbox started is stopped after the test."""
    started: list[Any] = []

    def start(root: Path | None = None, **options: Any) -> Any:
        sandbox = _start_sandbox(root or tmp_path / "esm", **options)
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


@pytest.fixture(scope="session")
def esm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The local ESM (REST v1 + XML API) on a loopback port, shared by the whole session."""
    sandbox = _start_sandbox(tmp_path_factory.mktemp("esm"), users={ESM_USER: WEBAPI_PASSWORD})
    yield sandbox
    sandbox.stop()
