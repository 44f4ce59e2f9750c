"""JSON bodies rendered by orjson: the bytes Starlette's JSONResponse renders (compact, UTF-8,
no ASCII escapes) for the values the hub serves, several times faster for a page or a batch of
records."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse

from services.masking import plain


class Rendered(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_plain, option=orjson.OPT_PASSTHROUGH_DATETIME)


def _plain(value: Any) -> Any:
    """Times, dates and decimals as the hub shows them (`masking.plain`); else an error."""
    shown = plain(value)
    if shown is value:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return shown
