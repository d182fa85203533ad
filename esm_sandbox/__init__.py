"""A small local ESM for development: the REST API v1 and XML Web API endpoints the connector uses
(PLATFORM.md §7), and pages that show the admin tasks. Not part of the product (the wheel holds
none of it): install it with ``pip install -e ./esm_sandbox`` (``./dev setup`` does).

Modules: ``auth`` (JWTs, Basic), ``store`` (datacards and files on disk), ``api`` (the Web API
routes), ``pages`` (the HTML pages and their Jinja2 templates), ``faults`` (fault injection and the
request record), ``server`` (:class:`EsmSandbox`: uvicorn in a background thread), ``cli``
(``hr-connector esm-sandbox`` / ``python -m esm_sandbox``).
"""

from esm_sandbox.api import parse_multipart
from esm_sandbox.faults import RequestRecord
from esm_sandbox.server import EsmSandbox
from esm_sandbox.store import safe_file_name

__all__ = ["EsmSandbox", "RequestRecord", "parse_multipart", "safe_file_name"]
