"""Schemathesis hooks of tests/services/test_openapi_conformance.py (loaded by `st run` through
schemathesis.toml): the document's own string formats, and the check of the pass without a key.

`citizen-id` and `uscc` values are drawn valid (check characters, a real birth date, an assigned
division code), as the formats promise; a value outside the pattern is drawn by the negative
tests without them.
"""

from __future__ import annotations

import datetime as dt
import json
import os

import numpy as np
import schemathesis
from hypothesis import strategies as st

from quality import citizen_id, uscc
from quality.divisions import division_codes

#: set by the test for the pass without an API key
NO_KEY = "GDX_ST_NO_KEY"


def _citizen_id(division: int, born: dt.date, serial: int, lower: bool) -> str:
    body = f"{division:06d}{born:%Y%m%d}{serial:03d}"
    check = chr(citizen_id.check_chars(np.frombuffer(body.encode(), np.uint8)[None, :])[0])
    return body + (check.lower() if lower else check)


_DIVISIONS = sorted(int(code) for code in division_codes())
CITIZEN_IDS = st.builds(
    _citizen_id,
    st.sampled_from(_DIVISIONS),
    st.dates(dt.date(1900, 1, 1), dt.date.today() - dt.timedelta(days=1)),
    st.integers(0, 999),
    st.booleans(),
)
_ALPHABET = uscc.ALPHABET.decode()


def _uscc(head: str, body: str) -> str:
    org = np.frombuffer(body.encode(), np.uint8)[None, :]
    return uscc.make_codes(np.frombuffer(head.encode(), np.uint8)[None, :], org)[0]


USCCS = st.builds(
    _uscc,
    st.text("0123456789", min_size=8, max_size=8),
    st.text(_ALPHABET, min_size=8, max_size=8),  # the organisation code's body
)

schemathesis.openapi.format("citizen-id", CITIZEN_IDS)
schemathesis.openapi.format("uscc", USCCS)

# what a call without a key may be answered besides 401: its form refused before the key is
# asked for (a value of the wrong type or length, a body that is not JSON, a method the path
# does not serve, a path no route serves)
FORM_ERRORS = {400, 404, 405, 422}


@schemathesis.check
def refused_without_a_key(ctx, response, case) -> bool | None:
    """Without an API key a keyed operation answers 401, or refuses the request's form."""
    if os.environ.get(NO_KEY) != "1" or not case.operation.definition.raw.get("security"):
        return None
    status = response.status_code
    if status == 401:
        return True
    if status in FORM_ERRORS:
        detail = _detail(response)
        # a purpose or anything else judged before the key would leak what the caller may see
        assert status != 400 or "body" in detail, f"400 before the key: {detail}"
        # a 404 before the key is a path no route serves, never a record or request not found
        assert status != 404 or detail.startswith("no route "), f"404 before the key: {detail}"
        return True
    raise AssertionError(f"{status} without an API key (expected 401 or a form error)")


def _detail(response) -> str:
    try:
        return str(json.loads(response.content).get("detail", ""))
    except (ValueError, AttributeError):
        return ""
