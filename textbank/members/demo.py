"""Synthetic member lists: the `textbank dev` demo data and the import benchmark's input."""

from __future__ import annotations

import csv
import io
import random

FIRST = [
    "Ana",
    "Luis",
    "Maria",
    "James",
    "Patricia",
    "Wei",
    "Nguyen",
    "Fatima",
    "John",
    "Rosa",
    "Kevin",
    "Aisha",
    "Joseph",
    "Linda",
    "Carlos",
    "Mei",
    "Robert",
    "Sofia",
    "Daniel",
    "Grace",
]
LAST = [
    "Rivera",
    "Smith",
    "Nguyen",
    "Johnson",
    "Garcia",
    "Chen",
    "Brown",
    "Silva",
    "Murphy",
    "Okafor",
    "Lee",
    "Pereira",
    "Walsh",
    "Dubois",
    "Kim",
    "Lopez",
    "O'Brien",
    "Patel",
]
WORKSITES = [
    "Lincoln Elementary",
    "Central High",
    "Boston Medical Center",
    "Logan Airport",
    "City Hall",
    "Eastside Depot",
    "Mercy Hospital",
    "Harbor School",
    "Riverside Plant",
]
LOCALS = ["1199", "26", "103", "2-A", "888", "509"]
# Area codes across four US time zones, so send windows differ by member.
AREA_CODES = ["617", "508", "413", "212", "305", "312", "713", "303", "602", "415", "206", "808"]
STATUSES = ["active"] * 8 + ["retiree"] * 2
LANGUAGES = ["en"] * 7 + ["es"] * 2 + ["pt"]
TAGS = ["", "", "building rep", "gotv 2026", "retiree volunteer", "captain", "new hire"]
HEADER = [
    "First Name",
    "Last Name",
    "Cell",
    "Email",
    "Local",
    "Worksite",
    "Language",
    "Status",
    "Tags",
    "Leader",
]


def _phone_formats(area: str, exchange: int, line: int, rng: random.Random) -> str:
    """The same number written the ways real exports write it."""
    fmt = rng.randrange(5)
    if fmt == 0:
        return f"({area}) {exchange:03d}-{line:04d}"
    if fmt == 1:
        return f"{area}-{exchange:03d}-{line:04d}"
    if fmt == 2:
        return f"+1{area}{exchange:03d}{line:04d}"
    if fmt == 3:
        return f"1.{area}.{exchange:03d}.{line:04d}"
    return f"{area}{exchange:03d}{line:04d}"


def member_csv(
    rows: int,
    *,
    seed: int = 7,
    bad_share: float = 0.0,
    duplicate_share: float = 0.0,
    fictional: bool = True,
) -> bytes:
    """A member CSV of `rows` data rows (UTF-8 with BOM, as Excel writes it).

    `fictional` keeps to 555-01XX numbers (a few thousand at most); otherwise numbers
    spread over real exchanges so large lists stay unique.
    """
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    written: list[list[str]] = []
    for i in range(rows):
        if written and rng.random() < duplicate_share:
            row = list(rng.choice(written))
            row[3] = row[3].upper()  # same member, slightly different spelling
            writer.writerow(row)
            continue
        area = AREA_CODES[i % len(AREA_CODES)]
        if fictional:
            exchange, line = 555, 100 + (i // len(AREA_CODES)) % 100
        else:
            serial = i // len(AREA_CODES)
            exchange, line = 201 + (serial // 10000) % 700, serial % 10000
            if exchange == 555:
                exchange = 556
        phone = _phone_formats(area, exchange, line, rng)
        if rng.random() < bad_share:
            phone = rng.choice(["", "555-1234", "n/a", "(617) 000-0000", "12345678901234"])
        first, last = rng.choice(FIRST), rng.choice(LAST)
        row = [
            first,
            last,
            phone,
            f"{first}.{last}{i}@example.org".lower().replace("'", ""),
            rng.choice(LOCALS) if rng.random() > 0.3 else "Local " + rng.choice(LOCALS),
            rng.choice(WORKSITES),
            rng.choice(LANGUAGES),
            rng.choice(STATUSES),
            rng.choice(TAGS),
            "yes" if i % 50 == 0 else "",  # a leader now and then, for STATS and digests
        ]
        written.append(row)
        writer.writerow(row)
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")
