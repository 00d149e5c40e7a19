"""Synthetic but valid registry data for the demo, the tests and the benchmarks."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from stdnum.cn import uscc as uscc_code

from redlist.importer import STANDARD_HEADER

DISTRICTS = (
    "浦东新区",
    "黄浦区",
    "徐汇区",
    "长宁区",
    "静安区",
    "普陀区",
    "虹口区",
    "杨浦区",
    "闵行区",
    "宝山区",
)
INDUSTRIES = ("制造业", "批发和零售业", "信息技术", "金融业", "建筑业", "科学研究", "交通运输")


def credit_code(n: int) -> str:
    """A valid unified social credit code, distinct for each ``n`` below 10**9."""
    body = f"91310000{n:09d}"
    return body + uscc_code.calc_check_digit(body)


def landline(n: int) -> str:
    """A Shanghai landline (8-digit subscriber), distinct for each ``n`` below 4*10**7."""
    return f"021{50_000_000 + n:08d}"


def rows(count: int, red_every: int = 0, start: int = 0) -> Iterator[list[str]]:
    """Import rows: one landline per firm; every ``red_every``-th firm is a key firm."""
    for n in range(start, start + count):
        red = bool(red_every) and n % red_every == 0
        yield [
            credit_code(n),
            f"示例企业{n}有限公司",
            landline(n),
            DISTRICTS[n % len(DISTRICTS)],
            INDUSTRIES[n % len(INDUSTRIES)],
            "重点企业" if red else "",
            "总部企业" if red else "",
            "2026-01-01" if red else "",
            "",
        ]


def csv_bytes(body: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(STANDARD_HEADER)
    writer.writerows(body)
    return out.getvalue().encode(encoding)
