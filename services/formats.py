"""The shapes the API document declares for keys, dates, times and numbers, and the checks that
hold the server to them: a value outside its declared shape is refused (422, once the caller is
authenticated), a value inside it is judged by the field's rules.

A key's shape comes from its field's declaration (rule `citizen_id` or `uscc`, type `date` or
`decimal`, else any text without control characters), so the document of a resource a department
imports follows from its YAML like its tables and rules do.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import WithJsonSchema

from catalog_schema import FieldSpec
from quality import citizen_id, uscc


def _date(year: str, leap_year: str) -> str:
    """A real calendar date `YYYY-MM-DD` as a regular expression (29 February in leap years
    only): schema-valid dates are dates the server can read."""
    days = (
        "(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
        "|(?:0[13-9]|1[0-2])-(?:29|30)"
        "|(?:0[13578]|1[02])-31"
    )
    return f"(?:{year}-(?:{days})|(?:{leap_year})-02-29)"


# the last two digits of a year divisible by 4 but not by 100
_LEAP = "(?:0[48]|[2468][048]|[13579][26])"
DATE_PATTERN = (
    "^" + _date("[1-9][0-9]{3}", f"[1-9][0-9]{_LEAP}|(?:[13579][26]|[2468][048])00") + "$"
)
# an optional time (minutes, seconds and up to six decimals) and offset
_TIME = (
    r"(?:T(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?)?"
)
AS_OF_PATTERN = (
    "^" + _date("(?:19[0-9]{2}|2[0-9]{3})", f"(?:19|2[0-9]){_LEAP}|2000|2400|2800") + _TIME + "$"
)
# the warehouse keeps 16 digits before the point
NUMBER_PATTERN = r"^[-+]?[0-9]{1,16}(?:\.[0-9]+)?$"
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"
# a key in a path: no control characters, no `/` (it would end the path segment), and no blank
# at either end (quality.normalize.trim would take it off)
_KEY_EDGE = r"[^\x00-\x20\x7f/\u3000\ufeff\xa0]"
KEY_TEXT_PATTERN = rf"^{_KEY_EDGE}(?:[^\x00-\x1f\x7f/]*{_KEY_EDGE})?$"
CURSOR_PATTERN = r"^[A-Za-z0-9_=-]+$"  # URL-safe base64 (a Fernet token)

#: A time as the API shows it (runtime.clock.iso): ISO 8601 in the province's time zone
#: (GDX_TIMEZONE) with its offset, `2026-12-06T09:23:22.512344+08:00`
Time = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "Local time (GDX_TIMEZONE), ISO 8601 with its offset.",
        }
    ),
]


@dataclass(frozen=True)
class Shape:
    """A declared string shape: what the document says (`schema`) and its check (`matches`)."""

    pattern: str
    says: str  # in words, for descriptions and refusals
    format: str | None = None  # a JSON Schema format; `citizen-id` and `uscc` are ours

    def schema(self) -> dict[str, Any]:
        """The JSON Schema keywords of the shape (without `type`)."""
        found = {"pattern": self.pattern}
        return found | {"format": self.format} if self.format else found

    def matches(self, value: str) -> bool:
        return _compiled(self.pattern).fullmatch(value) is not None


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


CITIZEN_ID = Shape(
    citizen_id.TYPED_PATTERN,
    "a citizen ID number (GB 11643): 18 characters, the last a check digit or X (x too), or an "
    "old 15-digit number; its check character, birth date and division code must be valid",
    "citizen-id",
)
USCC = Shape(
    uscc.PATTERN,
    "a unified social credit code (GB 32100): 18 characters of 0-9 and A-Y without I, O, S, V "
    "and Z, upper case, the first eight digits; both check characters must be valid",
    "uscc",
)
DATE = Shape(DATE_PATTERN, "a date YYYY-MM-DD from 1000-01-01 to 9999-12-31", "date")
AS_OF = Shape(
    AS_OF_PATTERN,
    "an ISO 8601 date or time from 1900 to 2999: YYYY-MM-DD, optionally Thh:mm[:ss[.ffffff]] "
    "and an offset (Z or ±hh:mm; without one the time is the province's, GDX_TIMEZONE)",
)
NUMBER = Shape(NUMBER_PATTERN, "a decimal number, at most 16 digits before the point")
TEXT = Shape(TEXT_PATTERN, "text without control characters")
KEY_TEXT = Shape(
    KEY_TEXT_PATTERN,
    "text without control characters, `/` or blanks at either end (a key holding `/` is read "
    "with the batch route)",
)
CURSOR = Shape(CURSOR_PATTERN, "the cursor of a `next` link")

BY_RULE = {"citizen_id": CITIZEN_ID, "uscc": USCC}


def of_key(spec: FieldSpec) -> Shape:
    """The shape of a key field as a consumer types it, from its declaration."""
    for rule in spec.rules:
        if rule.name in BY_RULE:
            return BY_RULE[rule.name]
    if spec.type == "date":
        return DATE
    if spec.type == "decimal":
        return NUMBER
    return KEY_TEXT


def of_filter(spec: FieldSpec) -> Shape:
    """The shape of an equality or range filter on a field (any text on a text field: a value
    that breaks the field's rules matches no record)."""
    return {"date": DATE, "decimal": NUMBER}.get(spec.type, TEXT)


def any_of(*shapes: Shape) -> dict[str, Any]:
    """JSON Schema keywords for a value of one of `shapes` (a subject: a citizen ID or a USCC)."""
    unique = list(dict.fromkeys(shapes))
    if len(unique) == 1:
        return unique[0].schema()
    return {"anyOf": [{"type": "string", **shape.schema()} for shape in unique]}


def parse_as_of(raw: str) -> dt.datetime | None:
    """The time `raw` names, if it has the AS_OF shape (naive: the province's local time)."""
    if not AS_OF.matches(raw):
        return None
    return dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
