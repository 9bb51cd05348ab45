"""What counts as a number or a date in a stored value, one definition for every reader: the SQL of
reports and segments (touchline.store.dialect), the Python segment evaluator, the tracking plan and the
dashboard's formatting. Pure constants, so that the pure cores can read them without a database driver.

A number is a JSON number within ±MAX_NUMBER (JavaScript's largest exact integer); for amounts also a
string holding one in JSON's spelling (NUMBER_PATTERN: no spaces, no '+', no '.5', an exponent of at
most three digits), as events stored before the tracking plan may hold. Whatever else a stored event
holds ("59,000원", true, 1e20, an object) counts as no number, never as an error.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ISO_DATETIME_PATTERN", "ISO_DATE_PATTERN", "MAX_NUMBER", "NUMBER_PATTERN"]

# An ISO 8601 date, or date-time with an explicit offset; anything else is not a date for a segment.
ISO_DATE_PATTERN: Final = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
ISO_DATETIME_PATTERN: Final = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})"
)
NUMBER_PATTERN: Final = r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]{1,3})?"
MAX_NUMBER: Final = 2**53 - 1
