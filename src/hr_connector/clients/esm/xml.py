"""Client of the ESM's legacy XML Web API (``{webapi_url}/api/itsm``, PLATFORM.md §7).

HTTP Basic and ``POST /dataCardImport.ws``; success is read from the XML reply, not from the
HTTP status. It has no documented file upload, so attachments are left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lxml import etree

from hr_connector.clients.esm.http import MAX_BODY_IN_ERROR, EsmError, Transport, body_summary
from hr_connector.params import WebApiSettings
from hr_connector.runlog import redact

# XML 1.0 forbids most C0 control characters; HR data may carry them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(value: str) -> str:
    return _XML_INVALID.sub("\ufffd", value)


def build_import_xml(template: str, data: Mapping[str, str]) -> bytes:
    """The ``<entityset>`` body of ``dataCardImport.ws`` for one datacard (lxml escapes it)."""
    root = etree.Element("entityset")
    entity = etree.SubElement(root, "entity")
    etree.SubElement(entity, "template", code=_xml_text(template))
    for code, text in data.items():
        attribute = etree.SubElement(entity, "attribute", code=_xml_text(code))
        etree.SubElement(attribute, "value").text = _xml_text(text)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def safe_xml_parser() -> etree.XMLParser:
    """A parser that never expands entities or fetches anything (no XXE, no billion laughs)."""
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_pis=True
    )


def _local(element: Any) -> str:
    return etree.QName(element).localname


class EsmXmlClient:
    """Client of the legacy XML Web API (``dataCardImport.ws``, HTTP Basic)."""

    def __init__(self, settings: WebApiSettings) -> None:
        self.settings = settings
        self._http = Transport(settings, "/api/itsm")

    def create_datacard(self, template: str, folder: str, data: Mapping[str, str]) -> str:
        """Import one datacard; return a reference (the datacard id when the reply has one)."""
        path = "/dataCardImport.ws"
        response = self._http.send(
            "POST",
            path,
            params={"folderCode": folder, "createDataCards": "true"},
            data=build_import_xml(template, data),
            headers={"Content-Type": "application/xml; charset=utf-8", "Accept": "application/xml"},
            # UTF-8, as RFC 7617 and Spring Security expect; requests would send Latin-1.
            auth=(
                self.settings.webapi_user.encode("utf-8"),
                self.settings.webapi_password.get_secret_value().encode("utf-8"),
            ),
        )
        status = response.status_code
        if status in (401, 403):
            raise EsmError(
                f"The ESM at {self._http.host} refused the XML Web API login: wrong credentials "
                f"or no Web API role for user '{self.settings.webapi_user}' (status {status}).",
                hint="Check webapi_user and webapi_password; the user must be an ESM local user.",
                status=status,
            )
        self._http.check(response, "POST", path)  # returns for 2xx
        try:
            root = etree.fromstring(response.content, safe_xml_parser())
        except etree.XMLSyntaxError:
            raise EsmError(
                f"ESM POST {path} answered {status} with no readable XML: {body_summary(response)}",
                status=status,
            ) from None
        elements = list(root.iter(etree.Element))
        errors = [
            " ".join("".join(el.itertext()).split()) for el in elements if _local(el) == "error"
        ]
        created_text = next(
            (el.text for el in elements if _local(el) == "entities-created" and el.text), "0"
        )
        try:
            created = int(created_text.strip())
        except ValueError:
            created = 0
        if errors or created < 1:
            shown = redact("; ".join(e for e in errors if e) or f"entities-created {created}")
            raise EsmError(
                f"ESM POST {path} did not create the datacard: {shown[:MAX_BODY_IN_ERROR]}",
                hint="Check report_template_code, report_folder_code and report_attribute_codes.",
                status=status,
            )
        card_id = next(
            (el.get("id") for el in elements if _local(el) == "entity" and el.get("id")), None
        )
        return str(card_id) if card_id else f"xml:{template}@{folder}"
