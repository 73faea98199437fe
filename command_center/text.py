"""Free text that every consumer can handle: control characters refused on input, scrubbed on export.

A control character in a stored string breaks more than the page that shows it: the .docx writer (XML 1.0)
refuses it, so one bad justification used to make a review's export fail for good. Input refuses them
(:func:`control_character`); exports pass text through :func:`xml_safe`, so rows stored before the check
still export.
"""

from __future__ import annotations

import re
from typing import Any

# C0 controls except tab, line feed and carriage return; DEL; C1 controls; the two non-characters XML
# forbids; lone surrogates (JSON can carry them, no document can store them).
_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
# What XML 1.0 (and so python-docx) cannot hold at all.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def control_character(text: str) -> str | None:
    """Return the first refused character of ``text`` as ``U+XXXX``, or ``None`` if there is none."""
    found = _REFUSED.search(text)
    return f"U+{ord(found.group()):04X}" if found else None


def xml_safe(value: Any) -> Any:
    """Replace what XML cannot hold with U+FFFD, in a string or anywhere inside dicts, lists and tuples."""
    if isinstance(value, str):
        return _NOT_XML.sub("\ufffd", value)
    if isinstance(value, dict):
        return {key: xml_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(xml_safe(item) for item in value)
    return value
