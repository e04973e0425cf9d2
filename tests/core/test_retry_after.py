"""`Retry-After` (RFC 9110 §10.2.3): `retry_after` and `epoch_of_http_date`.

Every expected epoch is written out by hand or computed with `calendar.timegm`, never
with the code under test. `W` is the wall clock the rows read the header at.
"""

from __future__ import annotations

import calendar
import math
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Final

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccg.core import Headers, epoch_of_http_date, retry_after

W: Final = 1_700_000_000.0
"""2023-11-14T22:13:20Z: the wall clock at which the rows read their headers."""

RFC_EXAMPLE: Final = calendar.timegm((1994, 11, 6, 8, 49, 37, 0, 0, 0))
"""Sun, 06 Nov 1994 08:49:37 GMT, the example of RFC 9110 §5.6.7."""


def test_the_rfc_example_instant_is_what_the_rows_assume() -> None:
    # 24 years (6 of them leap) and 309 days after 1970-01-01, plus 08:49:37.
    assert RFC_EXAMPLE == (24 * 365 + 6 + 309) * 86_400 + 8 * 3600 + 49 * 60 + 37 == 784_111_777


# -- delay-seconds --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("0", 0.0), ("7", 7.0), ("120", 120.0), (" 30 ", 30.0), ("007", 7.0)],
)
def test_delay_seconds_is_read_as_seconds(value: str, seconds: float) -> None:
    assert retry_after((("Retry-After", value),), W) == seconds


def test_delay_seconds_do_not_depend_on_the_wall_clock() -> None:
    headers: Headers = (("Retry-After", "42"),)
    assert retry_after(headers, W) == retry_after(headers, 0.0) == 42.0


def test_a_twelve_digit_delay_is_read_whole() -> None:
    assert retry_after((("Retry-After", "999999999999"),), W) == 999_999_999_999.0


def test_a_delay_longer_than_twelve_digits_still_counts_as_a_long_delay() -> None:
    seconds = retry_after((("Retry-After", "10000000000000"),), W)
    assert seconds == 1e12  # longer than any cap: cut to 10^12 s, then to retry_after_cap


# -- HTTP-dates -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sun, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE),  # IMF-fixdate
        ("Sunday, 06-Nov-94 08:49:37 GMT", RFC_EXAMPLE),  # obsolete RFC 850
        ("Wed Nov 16 08:49:37 1994", RFC_EXAMPLE + 10 * 86_400),  # asctime, two-digit day
    ],
)
def test_each_http_date_format_is_read_as_its_epoch(value: str, expected: int) -> None:
    assert epoch_of_http_date(value) == expected
    assert retry_after((("Retry-After", value),), W) == expected - W


def test_an_imf_fixdate_in_the_future_is_the_seconds_until_it() -> None:
    # 2023-11-14T22:15:00Z is 100 s after W.
    assert calendar.timegm((2023, 11, 14, 22, 15, 0, 0, 0, 0)) == W + 100
    assert retry_after((("Retry-After", "Tue, 14 Nov 2023 22:15:00 GMT"),), W) == 100.0


def test_an_rfc850_date_reads_a_two_digit_year_in_this_century() -> None:
    # 06-Nov-24 is 2024, not 1924.
    expected = calendar.timegm((2024, 11, 6, 8, 49, 37, 0, 0, 0))
    assert epoch_of_http_date("Wednesday, 06-Nov-24 08:49:37 GMT") == expected


def test_http_date_names_are_case_insensitive() -> None:
    assert epoch_of_http_date("SUN, 06 NOV 1994 08:49:37 gmt") == RFC_EXAMPLE
    assert epoch_of_http_date("wed nov 16 08:49:37 1994") == RFC_EXAMPLE + 10 * 86_400


def test_an_asctime_date_with_a_space_padded_day_is_read() -> None:
    assert epoch_of_http_date("Sun Nov  6 08:49:37 1994") == RFC_EXAMPLE
    assert retry_after((("Retry-After", "Sun Nov  6 08:49:37 1994"),), W) == RFC_EXAMPLE - W


def test_a_date_in_the_past_gives_a_negative_delay() -> None:
    assert retry_after((("Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT"),), W) == RFC_EXAMPLE - W
    assert RFC_EXAMPLE - W < 0
    # One second ago.
    assert calendar.timegm((2023, 11, 14, 22, 13, 19, 0, 0, 0)) == W - 1
    assert retry_after((("Retry-After", "Tue, 14 Nov 2023 22:13:19 GMT"),), W) == -1.0


# -- junk -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "soon",
        "-5",
        "+5",
        "1.5",
        "5s",
        "1e3",
        "0x10",
        "\u0665",  # ARABIC-INDIC DIGIT FIVE: a digit, but not an ASCII one
        "Sun, 06 Nov 1994 08:49:37",  # no GMT
        "Sun, 06 Nov 1994 08:49:37 PST",
        "Sun, 06 Foo 1994 08:49:37 GMT",  # no such month
        "Sun, 32 Nov 1994 08:49:37 GMT",  # no such day
        "Sun, 06 Nov 1994 24:00:00 GMT",  # no such hour
        "Sun, 06 Nov 1994 08:60:00 GMT",  # no such minute
        "Sun, 6 Nov 1994 08:49:37 GMT",  # one-digit day in an IMF-fixdate
        "Xyz, 06 Nov 1994 08:49:37 GMT",  # no such day name
        "2023-11-14T22:15:00Z",  # ISO 8601 is not an HTTP-date
    ],
)
def test_junk_counts_as_absent(value: str) -> None:
    assert retry_after((("Retry-After", value),), W) is None


def test_no_retry_after_header_counts_as_absent() -> None:
    assert retry_after((), W) is None
    assert retry_after((("Content-Type", "text/html"), ("Retry-Afterwards", "5")), W) is None


# -- which header ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Retry-After", "retry-after", "RETRY-AFTER", "rEtRy-AfTeR"])
def test_the_header_name_is_case_insensitive(name: str) -> None:
    assert retry_after(((name, "9"),), W) == 9.0


def test_the_first_retry_after_header_wins() -> None:
    headers: Headers = (
        ("Content-Type", "application/json"),
        ("retry-after", "5"),
        ("Retry-After", "60"),
        ("Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT"),
    )
    assert retry_after(headers, W) == 5.0
    dated: Headers = (("Retry-After", "Tue, 14 Nov 2023 22:15:00 GMT"), ("Retry-After", "1"))
    assert retry_after(dated, W) == 100.0


def test_a_junk_first_retry_after_header_is_not_replaced_by_a_later_one() -> None:
    assert retry_after((("Retry-After", "soon"), ("Retry-After", "5")), W) is None


# -- properties -----------------------------------------------------------------------

_DATETIMES: Final = st.datetimes(
    min_value=datetime(1000, 1, 1),  # naive bounds: Hypothesis attaches the timezone
    max_value=datetime(9999, 12, 31, 23, 59, 59),
    timezones=st.just(UTC),
)


@given(_DATETIMES)
def test_epoch_of_an_imf_fixdate_round_trips(moment: datetime) -> None:
    text = format_datetime(moment, usegmt=True)
    assert epoch_of_http_date(text) == calendar.timegm(moment.utctimetuple())


@given(_DATETIMES)
def test_epoch_of_an_rfc850_date_round_trips_within_its_century(moment: datetime) -> None:
    # The two-digit year is read as 1970-2069; shift the moment into that range.
    year = 1970 + (moment.year - 1970) % 100
    moment = moment.replace(year=year, day=min(moment.day, 28))
    text = moment.strftime("%A, %d-%b-%y %H:%M:%S GMT")
    assert epoch_of_http_date(text) == calendar.timegm(moment.utctimetuple())


@given(_DATETIMES.filter(lambda moment: moment.day >= 10))
def test_epoch_of_an_asctime_date_with_a_two_digit_day_round_trips(moment: datetime) -> None:
    text = time.asctime(moment.utctimetuple())
    assert epoch_of_http_date(text) == calendar.timegm(moment.utctimetuple())


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Retry-After", "retry-after", "Content-Type"]) | st.text(max_size=12),
            st.text(max_size=40),
        ),
        max_size=4,
    ),
    st.floats(allow_nan=False, allow_infinity=False),
)
def test_retry_after_never_raises(pairs: list[tuple[str, str]], wall: float) -> None:
    seconds = retry_after(tuple(pairs), wall)
    assert seconds is None or isinstance(seconds, float)


# -- the obsolete two-digit year (RFC 9110 §5.6.7), against the wall clock ------------------

YEAR_2026: Final = 1_767_225_600.0  # 2026-01-01T00:00:00Z
YEAR_1980: Final = 315_532_800.0  # 1980-01-01T00:00:00Z


@pytest.mark.parametrize(
    ("two_digits", "wall", "year"),
    [
        ("94", YEAR_2026, 1994),  # 2094 would be 68 years ahead: the century before
        ("76", YEAR_2026, 2076),  # exactly 50 years ahead: still this century
        ("77", YEAR_2026, 1977),  # 51 years ahead: the century before
        ("26", YEAR_2026, 2026),
        ("40", YEAR_1980, 1940),  # in 1980, 2040 is 60 years ahead
        ("30", YEAR_1980, 2030),  # 50 years ahead of 1980: kept
        ("69", None, 2069),  # without a wall clock: 00-69 are 20xx ...
        ("70", None, 1970),  # ... and 70-99 are 19xx
        ("70", math.inf, 1970),  # an infinite wall clock reads like none
        ("69", 1e15, 2069),  # out of range too
    ],
)
def test_a_two_digit_year_is_placed_against_the_wall_clock(
    two_digits: str, wall: float | None, year: int
) -> None:
    expected = calendar.timegm((year, 11, 6, 8, 49, 37, 0, 0, 0))
    text = f"Sunday, 06-Nov-{two_digits} 08:49:37 GMT"
    assert epoch_of_http_date(text, wall) == expected
    if wall is not None and math.isfinite(wall) and wall < 1e15:
        assert retry_after((("Retry-After", text),), wall) == expected - wall


def test_the_year_of_the_wall_clock_is_its_calendar_year_at_a_year_boundary() -> None:
    # One second before 2026 the wall clock is still in 2025: 2075 is 50 years ahead.
    just_before = YEAR_2026 - 86_400
    assert epoch_of_http_date("Sunday, 06-Nov-75 08:49:37 GMT", just_before) == calendar.timegm(
        (2075, 11, 6, 8, 49, 37, 0, 0, 0)
    )


def test_a_leap_second_is_read_and_sixty_one_is_not() -> None:
    assert epoch_of_http_date("Wed, 31 Dec 2008 23:59:60 GMT") == calendar.timegm(
        (2009, 1, 1, 0, 0, 0, 0, 0, 0)
    )
    assert epoch_of_http_date("Wed, 31 Dec 2008 23:59:61 GMT") is None


def test_a_delay_of_exactly_thirteen_digits_is_cut() -> None:
    assert retry_after((("Retry-After", "1000000000000"),), W) == 1e12
    assert retry_after((("Retry-After", "999999999999"),), W) == 999_999_999_999.0


def test_the_wall_clocks_year_is_corrected_down_too_near_a_year_end() -> None:
    # The mean Gregorian year puts late 31 December 1972 in 1973 (1972 was a leap year):
    # the calendar says 1972, and `23` is 1923, 49 years back, not 2023, 51 years ahead.
    late_1972 = float(calendar.timegm((1972, 12, 31, 23, 0, 0, 0, 0, 0)))
    text = "Sunday, 06-Nov-23 08:49:37 GMT"
    assert epoch_of_http_date(text, late_1972) == calendar.timegm((1923, 11, 6, 8, 49, 37, 0, 0, 0))
