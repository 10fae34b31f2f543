"""On-call load: hours, night hours and weekend hours a person held a schedule in a period, on plain
values. Hours are elapsed time between UTC instants, so a 23-hour DST day counts 23; nights
(22:00 to 07:00) and weekends (Saturday 00:00 to Monday 00:00) are wall-clock windows of the schedule's
zone, turned into instants day by day."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator
from zoneinfo import ZoneInfo

NIGHT_START, NIGHT_END = datetime.time(22, 0), datetime.time(7, 0)
MAX_PERIOD = datetime.timedelta(days=366)

Span = tuple[datetime.datetime, datetime.datetime]


def _local(day: datetime.date, at: datetime.time, zone: ZoneInfo) -> datetime.datetime:
    return datetime.datetime.combine(day, at, tzinfo=zone).astimezone(datetime.UTC)


def overlap(a: Span, b: Span) -> float:
    """Seconds [a) and [b) share."""
    return max(0.0, (min(a[1], b[1]) - max(a[0], b[0])).total_seconds())


def nights(start: datetime.datetime, end: datetime.datetime, zone: ZoneInfo) -> Iterator[Span]:
    """Each local night 22:00 → 07:00 that touches [start, end)."""
    day = start.astimezone(zone).date() - datetime.timedelta(days=1)
    last = end.astimezone(zone).date()
    while day <= last:
        yield _local(day, NIGHT_START, zone), _local(day + datetime.timedelta(days=1), NIGHT_END, zone)
        day += datetime.timedelta(days=1)


def weekends(start: datetime.datetime, end: datetime.datetime, zone: ZoneInfo) -> Iterator[Span]:
    """Each local weekend, Saturday 00:00 → Monday 00:00, that touches [start, end)."""
    day = start.astimezone(zone).date() - datetime.timedelta(days=7)
    day -= datetime.timedelta(days=(day.weekday() - 5) % 7)  # back to a Saturday
    last = end.astimezone(zone).date()
    while day <= last:
        yield _local(day, datetime.time(0), zone), _local(day + datetime.timedelta(days=2), datetime.time(0), zone)
        day += datetime.timedelta(days=7)


def held_hours(spans: Iterable[Span], period: Span, zone: ZoneInfo) -> tuple[float, float, float]:
    """(hours, night hours, weekend hours) of the spans, clipped to the period."""
    total = night = weekend = 0.0
    for span in spans:
        clipped = (max(span[0], period[0]), min(span[1], period[1]))
        if clipped[0] >= clipped[1]:
            continue
        total += overlap(clipped, period)
        night += sum(overlap(clipped, n) for n in nights(*clipped, zone))
        weekend += sum(overlap(clipped, w) for w in weekends(*clipped, zone))
    return round(total / 3600, 2), round(night / 3600, 2), round(weekend / 3600, 2)
