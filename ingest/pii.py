"""Personal identifiers in aggregate submissions: found, refused, never stored.

The scorecard takes aggregates (counts, rates, amounts per region). A file that carries a resident
identity number or a mobile number in any cell, key, sheet name or in its own name is refused as a
whole (``FILE_CONTAINS_PERSONAL_DATA``), and the numbers are masked wherever the loader writes
something about the file (quarantine ``raw_record``, ``.errors.json``, ledger name and message).

- Resident identity number (居民身份证号码, GB 11643-1999): 18 characters, six-digit region, birth
  date YYYYMMDD (1900-2099), three-digit sequence, and the ISO 7064 MOD 11-2 check character
  (weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2, check map ``10X98765432``). A number that fails
  the check digit or the date is not an identity number and is left alone.
- Mainland mobile number: ``1[3-9]`` and nine more digits (optionally ``+86``/``0086``/``86``
  in front and a space or hyphen after the 3rd and 7th digits), not part of a longer digit run.

Text is NFKC-normalised first, so full-width digits are caught too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, overload

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_MAP = "10X98765432"

# Between any two digits of an identifier: up to two separators a clerk (or a red team) might type:
# spaces, tabs, dots, slashes, underscores, middle dots and every hyphen and dash (issue #23 point 5).
SEPARATORS = " \t./\\_-\u00b7\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fb"
_SEP = "[" + "".join(re.escape(char) for char in SEPARATORS) + "]{0,2}"
# 18 characters (a letter may be glued in front: only a digit before it makes it part of a longer
# number), and the 15-digit identity numbers issued before 1999 (region, YYMMDD, sequence).
_ID_CANDIDATE = re.compile(rf"(?<!\d)[1-9](?:{_SEP}\d){{16}}{_SEP}[0-9Xx](?!\d)")
_ID15_CANDIDATE = re.compile(rf"(?<!\d)[1-9](?:{_SEP}\d){{14}}(?!{_SEP}\d)")
_MOBILE = re.compile(rf"(?<!\d)(?:(?:\+|00)?86{_SEP})?1{_SEP}[3-9](?:{_SEP}\d){{9}}(?!\d)")
# Cheap pre-filter: what every pattern needs, eleven digits with separators between them. Nine-digit
# township codes and other shorter numbers fail it at once.
_PREFILTER = re.compile(rf"\d(?:{_SEP}\d){{10}}")
_NOT_DIGIT = re.compile(r"[^0-9Xx]")
# Province-level region codes, the first two digits of an identity number.
_PROVINCES = frozenset(
    str(code)
    for first, last in ((11, 15), (21, 23), (31, 37), (41, 46), (50, 54), (61, 65), (71, 71), (81, 82))
    for code in range(first, last + 1)
)

KIND_ID = "resident_id"
KIND_MOBILE = "mobile"
KIND_NAMES = {KIND_ID: ("居民身份证号码", "resident ID number"), KIND_MOBILE: ("手机号码", "mobile number")}


def id_check_character(first17: str) -> str:
    """The GB 11643-1999 check character for the first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_MAP[total % 11]


def is_resident_id(text: str) -> bool:
    """True for a well-formed 18-character resident ID number with a valid birth date and check
    character."""
    if len(text) != 18 or not text[:17].isdigit():
        return False
    try:
        date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        return False
    return id_check_character(text[:17]) == text[17].upper()


# What storage removes after NFKC (ingest.values.normalize_text): the scan sees the same text.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\ufeff\u2060"), None)


def _normalized(text: str) -> str:
    """The text as it would be stored: NFKC, invisible characters removed."""
    return text if text.isascii() else unicodedata.normalize("NFKC", text).translate(_INVISIBLE)


def is_legacy_resident_id(digits: str) -> bool:
    """True for a 15-digit identity number of the first generation: a province code, and a birth
    date 19YYMMDD."""
    if len(digits) != 15 or not digits.isdigit() or digits[:2] not in _PROVINCES:
        return False
    try:
        date(1900 + int(digits[6:8]), int(digits[8:10]), int(digits[10:12]))
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Match:
    kind: str
    start: int
    end: int


def find_in_text(text: str) -> list[Match]:
    """Personal identifiers in one piece of (NFKC-normalised) text."""
    if not _PREFILTER.search(text):
        return []
    found = [
        Match(KIND_ID, m.start(), m.end())
        for m in _ID_CANDIDATE.finditer(text)
        if is_resident_id(_NOT_DIGIT.sub("", m.group()))
    ]
    found += [
        Match(KIND_ID, m.start(), m.end())
        for m in _ID15_CANDIDATE.finditer(text)
        if is_legacy_resident_id(_NOT_DIGIT.sub("", m.group()))
        and not any(start < m.end() and m.start() < end for start, end in [(f.start, f.end) for f in found])
    ]
    taken = [(m.start, m.end) for m in found]
    for m in _MOBILE.finditer(text):
        if not any(start < m.end() and m.start() < end for start, end in taken):
            found.append(Match(KIND_MOBILE, m.start(), m.end()))
    return found


def contains_personal_data(value: Any) -> list[str]:
    """The kinds of identifier in a cell value (any type), in order found."""
    if value is None or isinstance(value, bool):
        return []
    if isinstance(value, float):
        if not value.is_integer():
            return []
        value = int(value)
    return [match.kind for match in find_in_text(_normalized(str(value)))]


def mask(text: str) -> str:
    """Text with every identifier's letters and digits replaced by ``*``; everything else as it was
    (full-width digits are found through NFKC, character by character, and masked in place)."""
    if text.isascii():
        normalized, origin = text, list(range(len(text)))
    else:
        pieces, origin = [], []
        for index, char in enumerate(text):
            piece = unicodedata.normalize("NFKC", char).translate(_INVISIBLE)
            pieces.append(piece)
            origin.extend([index] * len(piece))
        normalized = "".join(pieces)
    matches = find_in_text(normalized)
    if not matches:
        return text
    out = list(text)
    for match in matches:
        for position in range(match.start, match.end):
            index = origin[position]
            if out[index].isalnum():
                out[index] = "*"
    return "".join(out)


# Control characters (C0 but tab and line breaks, DEL, C1 such as CSI) and bidirectional overrides:
# a terminal would obey them. Replaced wherever the platform writes text about a file.
# Lone surrogates (a file name in GBK bytes, decoded by the OS with surrogateescape) go too.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


@overload
def clean(text: str) -> str: ...
@overload
def clean(text: str | None) -> str | None: ...
@overload
def clean(text: object) -> object: ...


def clean(text: Any) -> Any:
    """Text the platform writes about a file (ledger, quarantine, side files, console): personal
    identifiers masked and control characters (terminal escapes) replaced by U+FFFD."""
    if not isinstance(text, str):
        return text
    if not text.isascii():
        text = _CONTROLS.sub("\ufffd", text)  # first: NFKC in mask must not see a lone surrogate
    return _CONTROLS.sub("\ufffd", mask(text))


@dataclass(frozen=True)
class Finding:
    """Where the first identifier was found, and how many cells hold one."""

    kind: str
    row_ref: str | None
    field: str | None
    count: int
    kinds: tuple[str, ...]

    def params(self) -> dict[str, Any]:
        kinds = list(dict.fromkeys(self.kinds))
        return {
            "kind": " and ".join(KIND_NAMES[k][1] for k in kinds),
            "kind_zh": "、".join(KIND_NAMES[k][0] for k in kinds),
            "count": self.count,
        }


def might_contain(texts: Iterable[Any]) -> bool:
    """Fast check over several values at once (e.g. a row's cells): False means none holds an
    identifier; True means look cell by cell."""
    line = None
    if type(texts) is list:
        # A CSV row is a list of str: join it directly (a None or a number raises TypeError and
        # takes the general way; a generator is not tried, as join would consume it).
        try:
            line = "\x1f".join(texts)
        except TypeError:
            line = None
    if line is None:
        line = "\x1f".join(str(value) for value in texts if value is not None)
    return bool(_PREFILTER.search(_normalized(line)))


def first_finding(
    cells: Iterable[tuple[Any, Any, Any]],
    locate: Callable[[Any, Any], tuple[str | None, str | None]] | None = None,
) -> Finding | None:
    """Scan ``(row_ref, field, value)`` triples; the first hit names the row and field.

    With ``locate``, the first two items are whatever it needs to make the row reference and the
    field name, and it is called for the first hit only (building them for every cell of a large
    file costs more than the scan itself)."""
    first: tuple[str, str | None, str | None] | None = None
    count = 0
    kinds: list[str] = []
    for row_ref, field_name, value in cells:
        found = contains_personal_data(value)
        if not found:
            continue
        count += 1
        kinds.extend(found)
        if first is None:
            where = locate(row_ref, field_name) if locate is not None else (row_ref, field_name)
            first = (found[0], *where)
    if first is None:
        return None
    return Finding(first[0], first[1], first[2], count, tuple(kinds))


def walk_json(value: Any, ref: str = "document") -> Iterator[tuple[str, str | None, Any]]:
    """Every key and scalar of a parsed JSON document as ``(ref, key, value)``, without recursion
    (depth is checked by the reader, but a deep document must not crash the scan either)."""
    stack: list[tuple[str, str | None, Any]] = [(ref, None, value)]
    while stack:
        where, key, item = stack.pop()
        if isinstance(item, dict):
            for child_key, child in item.items():
                yield where, str(child_key), child_key
                stack.append((where, str(child_key), child))
        elif isinstance(item, list):
            stack.extend((where, key, child) for child in reversed(item))
        else:
            yield where, key, item
