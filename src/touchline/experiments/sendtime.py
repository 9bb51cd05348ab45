"""Send-time optimisation, pure: a customer's best hour from when they engage (opens, clicks, sessions,
purchases), in their own time zone; too little history falls back to the audience's best hour, and that to
a default. Quiet hours still win: a wait that ends in them is followed by a send the policy defers to the
morning."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["DEFAULT_HOUR", "ENGAGEMENT_EVENTS", "MIN_EVENTS", "WINDOW", "best_hour", "local_hours", "shift_hours"]

# What counts as the customer paying attention: messages opened and clicked, app and web sessions, views,
# purchases (the ``page`` and ``screen`` calls count too).
ENGAGEMENT_EVENTS = ("Message Opened", "Message Clicked", "Application Opened", "Product Viewed",
                     "Product List Viewed", "Cart Viewed", "Checkout Started", "Order Completed", "Signed In")
MIN_EVENTS = 5  # a customer's own best hour needs at least this many engagements
WINDOW = dt.timedelta(days=90)
DEFAULT_HOUR = 10


def local_hours(times: Iterable[dt.datetime], timezone: str | None) -> Counter[int]:
    """How many of ``times`` fell in each hour of the day in ``timezone`` (UTC when None or unknown)."""
    try:
        zone: dt.tzinfo = ZoneInfo(timezone) if timezone else dt.UTC
    except (ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    return Counter(t.astimezone(zone).hour for t in times)


def best_hour(counts: Mapping[int, int], min_events: int = MIN_EVENTS) -> int | None:
    """The hour of the day with the most engagements (the earlier on a tie); None with fewer than
    ``min_events`` in all (not enough to tell)."""
    if sum(counts.values()) < min_events:
        return None
    return min(counts, key=lambda h: (-counts[h], h))


def shift_hours(counts: Mapping[int, int], zone: str | None, at: dt.datetime, *, source: str = "UTC"
                ) -> Counter[int]:
    """Counts by hour of the day in ``source`` read as hours in ``zone``, at the offsets of the day of ``at``."""
    try:
        src: dt.tzinfo = ZoneInfo(source)
    except (ZoneInfoNotFoundError, ValueError):
        src = dt.UTC
    day = at.astimezone(src).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    out: Counter[int] = Counter()
    for hour, n in counts.items():
        moment = (day + dt.timedelta(hours=hour)).replace(tzinfo=src)
        for local in local_hours([moment], zone):
            out[local] += n
    return out
