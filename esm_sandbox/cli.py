"""``hr-connector esm-sandbox`` / ``python -m esm_sandbox``: serve the local ESM until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
from collections.abc import Sequence
from pathlib import Path

from esm_sandbox.server import DEFAULT_ATTRIBUTES, EsmSandbox

log = logging.getLogger("esm_sandbox")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir", type=Path, default=Path("esm-sandbox"), help="where datacards and files are kept"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=8765, help="port (0: any free port)")
    parser.add_argument("--user", default="user", help="the ESM user the connector logs in as")
    parser.add_argument(
        "--password",
        default=None,
        help="its password (default: $ESM_SANDBOX_PASSWORD, else 'password')",
    )
    parser.add_argument(
        "--token-lifetime", type=float, default=300.0, help="JWT lifetime in seconds"
    )
    parser.add_argument(
        "--max-upload-bytes", type=int, default=10 * 1024 * 1024, help="413 above this size"
    )
    parser.add_argument(
        "--attributes",
        default=",".join(sorted(DEFAULT_ATTRIBUTES)),
        help="comma-separated attribute codes of every template, or 'any'",
    )


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C or SIGTERM."""
    password = args.password or os.environ.get("ESM_SANDBOX_PASSWORD") or "password"
    attributes = (
        None
        if args.attributes.strip().lower() == "any"
        else {a.strip() for a in args.attributes.split(",") if a.strip()}
    )
    sandbox = EsmSandbox(
        args.dir,
        host=args.host,
        port=args.port,
        users={args.user: password},
        token_lifetime_seconds=args.token_lifetime,
        max_upload_bytes=args.max_upload_bytes,
        template_attributes=attributes,
    )
    if not log.handlers:  # show the sandbox's activity whatever the root logger does
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        sandbox.start()
    except OSError as exc:
        print(f"esm-sandbox: cannot listen on {args.host}:{args.port}: {exc}")
        return 1
    params = {
        "webapi_url": sandbox.url,
        "webapi_user": args.user,
        "webapi_password": "<the sandbox password>",
        "report_template_code": "IGAWorkflowTaskInformation",
        "report_folder_code": "iga_tasks",
    }
    print(f"ESM sandbox on {sandbox.url}  (admin tasks: {sandbox.url}/)", flush=True)
    print(f"Data kept in {Path(args.dir).resolve()}", flush=True)
    print("Connector parameters: " + json.dumps(params), flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hr-connector esm-sandbox", description="A local ESM for tests and demos."
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
