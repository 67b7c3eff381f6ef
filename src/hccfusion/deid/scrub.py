"""Scrubbing of free-text fields before data sharing.

Removes, in this order: the known identifier values (names, phones, national IDs, record
numbers of the patients table; matched with optional spaces or dashes between characters),
original study IDs (replaced by their pseudonyms), then patterns of the HIPAA Safe Harbor
categories that occur in Chinese clinical notes: resident ID numbers (18 digits, last may be X;
old 15-digit form), mobile and landline phone numbers, record numbers after a keyword
(住院号, 病案号, 门诊号, MRN …), any remaining run of 6+ digits, and dates (2023-03-01,
2023/3/1, 2023.03.01, 2023年3月1日, 3/1/2023, 2023年3月, 20230301). Each becomes a bracketed tag.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

_NATIONAL_ID = re.compile(r"(?<![0-9])(?:[1-9]\d{16}[0-9Xx]|[1-9]\d{14})(?![0-9A-Za-z])")
_PHONE = re.compile(
    r"(?<![0-9])(?:\+?86[\s-]?)?(?:1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}"
    r"|0\d{2,3}[\s-]?\d{7,8})(?![0-9])")
_RECORD = re.compile(
    r"(住院号|病案号|病历号|门诊号|登记号|ID号|MRN|record\s*(?:no\.?|number|#))\s*[:：#]?\s*"
    r"[A-Za-z0-9-]+", re.IGNORECASE)
_DIGIT_RUN = re.compile(r"(?<![0-9])\d{6,}(?![0-9])")
_DATES = re.compile(
    r"(?<![0-9])(?:"
    r"(?:19|20)\d{2}\s*年\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*[日号])?"
    r"|(?:19|20)\d{2}[-/.]\d{1,2}(?:[-/.]\d{1,2})?"
    r"|\d{1,2}[-/.]\d{1,2}[-/.](?:19|20)\d{2}"
    r"|\d{1,2}\s*月\s*\d{1,2}\s*[日号]"
    r")(?![0-9])")


def _loose(value: str) -> re.Pattern[str]:
    """Pattern that finds ``value`` also when spaces or dashes were typed between characters."""
    chars = [re.escape(c) for c in value if not c.isspace() and c != "-"]
    return re.compile(r"[\s-]*".join(chars), re.IGNORECASE)


def scrub_text(
    text: str | None,
    *,
    identifiers: Iterable[str] = (),
    replacements: Mapping[str, str] | None = None,
) -> str | None:
    """Scrub one free-text value.

    Parameters
    ----------
    text
        The text (None / NA pass through).
    identifiers
        Identifier values to remove wherever they occur (replaced by ``[REDACTED]``); values
        shorter than 2 characters are ignored.
    replacements
        Original ID → pseudonym (e.g. the study code → its pseudonym); matched as a whole token.

    Returns
    -------
    str or None
        The scrubbed text.
    """
    if text is None or text != text:  # None or NaN/NA
        return text
    out = str(text)
    for value in sorted({str(v).strip() for v in identifiers}, key=len, reverse=True):
        if len(value) >= 2:
            out = _loose(value).sub("[REDACTED]", out)
    # IDs become placeholders first, so the patterns below cannot cut into a pseudonym's hex.
    pending: list[str] = []
    for original, new in sorted((replacements or {}).items(), key=lambda kv: -len(kv[0])):
        pattern = rf"(?<![A-Za-z0-9]){re.escape(original)}(?![A-Za-z0-9])"
        if original and re.search(pattern, out):
            out = re.sub(pattern, f"\x00{len(pending)}\x00", out)
            pending.append(new)
    out = _RECORD.sub("[RECORD]", out)
    out = _NATIONAL_ID.sub("[ID]", out)
    out = _PHONE.sub("[PHONE]", out)
    out = _DATES.sub("[DATE]", out)
    out = _DIGIT_RUN.sub("[NUMBER]", out)
    return re.sub("\x00(\\d+)\x00", lambda m: pending[int(m.group(1))], out)
