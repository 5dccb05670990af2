"""S3 XML in and out. Parsing is bounded and refuses DTDs, so no entity can ever expand."""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from strongroom.s3.errors import S3Error

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'
MAX_XML_BYTES = 2 * 1024 * 1024


def parse(body: bytes) -> ET.Element:
    """Parse a request document; MalformedXML on anything but a plain, DTD-free document."""
    if len(body) > MAX_XML_BYTES:
        raise S3Error("MalformedXML")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body or b"<!doctype" in body:
        raise S3Error("MalformedXML")
    try:
        root = ET.fromstring(body)  # noqa: S314 - DTD-free input only (checked above)
    except ET.ParseError:
        raise S3Error("MalformedXML") from None
    _strip_namespaces(root)
    return root


def _strip_namespaces(root: ET.Element) -> None:
    for element in root.iter():
        if element.tag.startswith("{"):
            element.tag = element.tag.split("}", 1)[1]


def text(element: ET.Element, name: str, default: str = "") -> str:
    child = element.find(name)
    if child is None or child.text is None:
        return default
    return child.text


def iso8601(timestamp: float) -> str:
    """S3's timestamp format: 2006-02-03T16:45:09.000Z."""
    seconds = int(timestamp)
    millis = int((timestamp - seconds) * 1000)
    return f"{_iso_seconds(seconds)}.{millis:03d}Z"


@functools.lru_cache(maxsize=4096)
def _iso_seconds(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


# Text XML cannot carry as is: a parser turns a bare CR into LF, so CR is written as a
# character reference (as AWS documents); code points XML 1.0 does not allow at all (C0
# controls but tab and LF, U+FFFE, U+FFFF, lone surrogates) become U+FFFD, as Go's
# encoding/xml (MinIO) writes them. Listings with encoding-type=url keep such keys exact.
_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _unsafe(match: re.Match[str]) -> str:
    return "&#13;" if match.group() == "\r" else "\ufffd"


def esc(value: str) -> str:
    value = escape(value)
    if _XML_UNSAFE.search(value) is None:
        return value
    return _XML_UNSAFE.sub(_unsafe, value)


def element(name: str, value: str | int | bool) -> str:
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{name}>{esc(str(value))}</{name}>"


def document(root: str, children: Iterable[str], *, namespace: bool = True) -> bytes:
    ns = f' xmlns="{S3_NS}"' if namespace else ""
    return (XML_HEADER + f"<{root}{ns}>" + "".join(children) + f"</{root}>").encode()
