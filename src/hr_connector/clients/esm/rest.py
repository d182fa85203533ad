"""Client of the ESM REST API v1 (``{webapi_url}/rest-api/itsm/v1``, PLATFORM.md §7).

A JWT from ``POST /users/login``, renewed before it expires and once on a 401; datacards
created with ``POST /dc/{template}/data``; files streamed to ``.../data/{id}/{attribute}/file``.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import requests
from requests_toolbelt import MultipartEncoder

from hr_connector.attachments import zip_file, zipped_name
from hr_connector.clients.esm.http import EsmError, EsmTooLarge, Transport, body_summary
from hr_connector.params import WebApiSettings
from hr_connector.runlog import register_secrets
from hr_connector.workdir import door_for

log = logging.getLogger(__name__)

#: Log in again when the JWT expires within this many seconds (clock skew, slow calls).
RELOGIN_MARGIN_SECONDS = 30.0


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (seconds since the epoch), read without checking the signature
    (the ESM checks it); ``None`` when there is none: a 401 then says when to log in again."""
    try:
        _, payload, _ = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = claims["exp"]
    except (ValueError, TypeError, KeyError):  # binascii.Error is a ValueError
        return None
    return None if isinstance(exp, bool) or not isinstance(exp, int | float) else float(exp)


def _attribute_values(data: Mapping[str, str]) -> dict[str, dict[str, list[dict[str, str]]]]:
    return {code: {"values": [{"value": text}]} for code, text in data.items()}


@dataclass
class UploadResult:
    """What :meth:`EsmRestClient.upload_attachment` did with one file: ``plain``, ``compressed``
    (``name.zip``) or ``too_large`` (not attached); ``files`` are the names stored in the ESM."""

    how: Literal["plain", "compressed", "too_large"]
    files: list[str] = field(default_factory=list)
    #: size of the smallest upload the ESM refused (for ``too_large``)
    sent: int = 0


class EsmRestClient:
    """Client of the ESM REST API v1, with JWT login and transparent re-login."""

    def __init__(self, settings: WebApiSettings) -> None:
        self.settings = settings
        self._http = Transport(settings, "/rest-api/itsm/v1")
        self._token: str | None = None
        self._expires_at: float | None = None
        self.logins = 0  #: how often we logged in

    def login(self) -> None:
        """Get a JWT with the user's credentials (form fields ``login`` and ``password``)."""
        user = self.settings.webapi_user
        path = "/users/login"
        response = self._http.send(
            "POST",
            path,
            data={"login": user, "password": self.settings.webapi_password.get_secret_value()},
            headers={"Accept": "application/json"},
        )
        if response.status_code in (401, 403):
            raise EsmError(
                f"The ESM at {self._http.host} refused the login: wrong credentials for user "
                f"'{user}' (status {response.status_code}).",
                hint="Check webapi_user and webapi_password; the user must be an ESM local user "
                "with the External API permission.",
                status=response.status_code,
            )
        self._http.check(response, "POST", path, quote_body=False)
        try:
            body = response.json()
        except ValueError:
            body = None
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            token = response.headers.get("Authorization", "")
        token = token.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if not token:
            raise EsmError(
                f"The ESM at {self._http.host} accepted the login of '{user}' but returned no "
                "token.",
                hint="Check that webapi_url points at the ESM itself, not a proxy page.",
                status=response.status_code,
            )
        if not token.startswith("eyJ"):  # not JWT-shaped: the runlog pattern would miss it
            register_secrets([token])
        self._token = token
        self._expires_at = jwt_expiry(token)
        self.logins += 1
        log.debug("Logged in to the ESM at %s as %s", self._http.host, user)

    def _bearer(self) -> str:
        expires = self._expires_at
        if self._token is None or (
            expires is not None and expires - time.time() < RELOGIN_MARGIN_SECONDS
        ):
            self.login()
        assert self._token is not None
        return f"Bearer {self._token}"

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """An authenticated call; on 401 log in again and repeat it once."""
        headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
        for attempt in (1, 2):
            headers["Authorization"] = self._bearer()
            response = self._http.send(method, path, headers=headers, **kwargs)
            if response.status_code != 401 or attempt == 2:
                break
            log.info("The ESM answered 401 to %s %s; logging in again", method, path)
            self._token = None
        self._http.check(response, method, path)
        return response

    def _card_path(self, template: str, card_id: str) -> str:
        return f"/dc/{quote(template, safe='')}/data/{quote(card_id, safe='')}"

    def create_datacard(self, template: str, folder: str, data: Mapping[str, str]) -> str:
        """Create one datacard with text attributes; return its ``dataCardId``."""
        path = f"/dc/{quote(template, safe='')}/data"
        response = self._call(
            "POST", path, json={"folderCode": folder, "data": _attribute_values(data)}
        )
        try:
            body = response.json()
            card_id = body["dataCard"]["dataCardId"]
        except (ValueError, KeyError, TypeError):
            raise EsmError(
                f"ESM POST {path} answered {response.status_code} without a dataCardId: "
                f"{body_summary(response)}",
                status=response.status_code,
            ) from None
        meta = body.get("meta") if isinstance(body, dict) else None
        if isinstance(meta, dict) and meta.get("errors"):
            log.warning(
                "The ESM created datacard %s but reported: %s", card_id, body_summary(response)
            )
        return str(card_id)

    def update_datacard(self, template: str, card_id: str, data: Mapping[str, str]) -> None:
        """Replace text attributes of an existing datacard (``PATCH``)."""
        path = self._card_path(template, card_id)
        self._call("PATCH", path, json={"dataCardId": card_id, "data": _attribute_values(data)})

    def upload_file(
        self, template: str, card_id: str, attribute: str, name: str, content: Path
    ) -> None:
        """Stream one file from disk into a file attribute; raise :class:`EsmTooLarge` on 413."""
        path = f"{self._card_path(template, card_id)}/{quote(attribute, safe='')}/file"
        with door_for(content).open_read(content) as body:
            size = os.fstat(body.fileno()).st_size
            encoder = MultipartEncoder(
                fields={"fileUpload": (name, body, "application/octet-stream"), "fileName": name}
            )
            try:
                self._call(
                    "POST", path, data=encoder, headers={"Content-Type": encoder.content_type}
                )
            except EsmTooLarge as exc:
                exc.size = size  # the file's size, not the multipart body's
                raise

    def upload_attachment(
        self,
        template: str,
        card_id: str,
        attribute: str,
        name: str,
        content: Path,
        source: Path | None = None,
    ) -> UploadResult:
        """Upload a file so that a 413 does not lose it (``source``: the original when
        ``content`` is its zip). On a 413 the file is sent zipped (made on disk, streamed); when
        even that is too big it is ``too_large`` and the task lists it instead."""
        try:
            self.upload_file(template, card_id, attribute, name, content)
            return UploadResult("plain", [name])
        except EsmTooLarge as exc:
            failed = exc.size  # the file's own size (upload_file sets it)
        if source is None:
            log.warning(
                "The ESM refused %s (%d bytes) as too large; trying it zipped", name, failed
            )
            with tempfile.TemporaryDirectory(prefix="hr-connector-zip-") as folder:
                zipped = Path(folder) / zipped_name(name)
                packed = zip_file(content, zipped, name, limit=failed - 1)
                if packed is not None:
                    try:
                        self.upload_file(template, card_id, attribute, zipped.name, zipped)
                        log.warning("Attached %s zipped as %s", name, zipped.name)
                        return UploadResult("compressed", [zipped.name])
                    except EsmTooLarge:
                        failed = packed
        else:
            log.warning("The ESM refused the zip %s (%d bytes) as too large", name, failed)
        log.warning("%s is too large for the ESM even zipped; not attached", name)
        return UploadResult("too_large", sent=failed)
