"""Dates for people: "2015", "April 2015", "18 January 2017", "between 2000 and 2009", "since 2014".

The graph keeps a date at the precision the source gives (xsd:gYear, xsd:gYearMonth, xsd:date)
and a date known only as a range as lec:notBefore / lec:notAfter; pages say them in words.
"""

from __future__ import annotations

from datetime import date

XSD = "http://www.w3.org/2001/XMLSchema#"
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def human_date(lexical: str, datatype: str) -> str:
    """ "2015" , "April 2015", "18 January 2017"; anything else as it is written."""
    try:
        if datatype == XSD + "gYear":
            return str(int(lexical[:4])) if len(lexical) == 4 else lexical
        if datatype == XSD + "gYearMonth":
            year, month = lexical[:7].split("-")
            return f"{MONTHS[int(month) - 1]} {int(year)}"
        if datatype in (XSD + "date", XSD + "dateTime"):
            d = date.fromisoformat(lexical[:10])
            return f"{d.day} {MONTHS[d.month - 1]} {d.year}"
    except (ValueError, IndexError):
        pass
    return lexical


def date_range(not_before: str | None, not_after: str | None) -> str:
    """ "between 2000 and 2009", "since 2014", "by January 2017"."""
    if not_before and not_after:
        return f"between {not_before} and {not_after}"
    if not_before:
        return f"since {not_before}"
    return f"by {not_after}"
