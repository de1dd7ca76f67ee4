"""Masking of personal data (ID numbers, names) for logs and events."""

from __future__ import annotations

import logging
import re

_ID_RE = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")


def mask_id(number: str | None) -> str:
    """`110105199001011234` → `110105********1234`: region kept, birth date hidden."""
    if not number:
        return ""
    if len(number) < 12:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def mask_name(name: str | None) -> str:
    """`张三丰` → `张**`: only the first character is kept."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)


def scrub(text: str) -> str:
    """Mask anything in free text that looks like an 18-character ID number."""
    return _ID_RE.sub(lambda m: m[1] + "*" * 8 + m[2], text)


class ScrubFilter(logging.Filter):
    """A logging filter that masks ID numbers in every formatted message, as a safety net."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
