"""`Retry-After` (RFC 9110 §10.2.3): seconds to wait, from a delay or an HTTP-date.

Parsed here rather than with `email.utils`, which would pull clocks and sockets
into the core. The three date formats RFC 9110 §5.6.7 asks recipients to accept
are read; anything else counts as absent.
"""

from __future__ import annotations

import re
from typing import Final

from ccg.core._http import Headers

__all__ = ["epoch_of_http_date", "retry_after"]

_MONTHS: Final = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_DELAY: Final = re.compile(r"[0-9]+")
_LONGEST_DELAY: Final = 10**12  # seconds; a longer delay is cut to it (and then to the cap)
_DAY: Final = r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*"
_TIME: Final = r"([0-9]{2}):([0-9]{2}):([0-9]{2})"
_IMF_FIXDATE: Final = re.compile(rf"{_DAY}, ([0-9]{{2}}) ([a-z]{{3}}) ([0-9]{{4}}) {_TIME} gmt")
_RFC850: Final = re.compile(rf"{_DAY}, ([0-9]{{2}})-([a-z]{{3}})-([0-9]{{2}}) {_TIME} gmt")
# asctime pads a one-digit day with a space ("Nov  6"); spaces are collapsed before matching.
_ASCTIME: Final = re.compile(rf"{_DAY} ([a-z]{{3}}) ([0-9]{{1,2}}) {_TIME} ([0-9]{{4}})")
_SECONDS_PER_YEAR: Final = 31_556_952  # the Gregorian mean year


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to the given proleptic Gregorian date."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _epoch(year: int, month: str, day: int, clock: tuple[str, str, str]) -> float | None:
    number = _MONTHS.get(month)
    hour, minute, second = (int(part) for part in clock)
    if number is None or not 1 <= day <= 31 or hour > 23 or minute > 59 or second > 60:
        return None
    return float(_days_from_civil(year, number, day) * 86400 + hour * 3600 + minute * 60 + second)


def _full_year(two_digits: int, wall: float | None) -> int:
    """RFC 9110 §5.6.7: the year with these last two digits that is at most 50 years ahead
    of `wall`'s year (one more than 50 years ahead is taken from the century before).
    Without a wall clock: 00-69 are 20xx, 70-99 are 19xx."""
    if wall is None or not abs(wall) < 1e15:
        return two_digits + (2000 if two_digits < 70 else 1900)
    this_year = 1970 + int(wall // _SECONDS_PER_YEAR)  # within a day of the truth: correct it
    if wall >= _days_from_civil(this_year + 1, 1, 1) * 86400:
        this_year += 1
    elif wall < _days_from_civil(this_year, 1, 1) * 86400:
        this_year -= 1
    year = this_year - this_year % 100 + two_digits
    if year > this_year + 50:
        return year - 100
    # Not more than 50 years ahead: the year in (this_year - 50, this_year + 50].
    return year + 100 if year <= this_year - 50 else year


def epoch_of_http_date(text: str, wall: float | None = None) -> float | None:
    """The UTC epoch seconds of an HTTP-date in any of its three formats, or None.

    `wall` (epoch seconds now) places the two-digit year of the obsolete RFC 850 format.
    """
    value = " ".join(text.lower().split())
    if (m := _IMF_FIXDATE.fullmatch(value)) is not None:
        day, month, year, *clock = m.groups()
        return _epoch(int(year), month, int(day), (clock[0], clock[1], clock[2]))
    if (m := _RFC850.fullmatch(value)) is not None:
        day, month, two_digit_year, *clock = m.groups()
        year = _full_year(int(two_digit_year), wall)
        return _epoch(year, month, int(day), (clock[0], clock[1], clock[2]))
    if (m := _ASCTIME.fullmatch(value)) is not None:
        month, day, *clock, year = m.groups()
        return _epoch(int(year), month, int(day), (clock[0], clock[1], clock[2]))
    return None


def retry_after(headers: Headers, wall: float) -> float | None:
    """Seconds the reply with `headers` asks to wait, seen at `wall` (UTC epoch seconds).

    None when there is no usable `Retry-After`; a date in the past gives a negative
    number; a delay longer than 10^12 s counts as 10^12 s (the policy's cap cuts it).
    """
    for name, value in headers:
        if name.lower() != "retry-after":
            continue
        text = value.strip()
        if _DELAY.fullmatch(text):
            return float(_LONGEST_DELAY if len(text) > 12 else int(text))
        epoch = epoch_of_http_date(text, wall)
        return None if epoch is None else epoch - wall
    return None
