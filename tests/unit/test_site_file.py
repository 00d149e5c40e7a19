"""The site-file validator refuses broken files before anything starts, naming the key."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.site import ServiceSettings, SiteError, load_site, parse_site
from tests.conftest import EXAMPLE_SITE

Mutation = Callable[[dict[str, Any]], object]


def _example() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE_SITE.read_text())


def test_the_example_site_is_valid() -> None:
    site = load_site(EXAMPLE_SITE)
    assert site.hotline_numbers == ["12345"]
    assert [seat.id for seat in site.seats_of("enterprise")] == [
        "1001",
        "1002",
        "1003",
        "1004",
        "1005",
        "1009",
    ]


BROKEN: list[tuple[str, Mutation, str]] = [
    ("no [site]", lambda d: d.pop("site"), "site: is required but missing"),
    (
        "misspelt key",
        lambda d: d["seats"][0].update(pasword="x"),
        "seats[0].pasword: is not a known key (check its spelling)",
    ),
    (
        "unknown queue",
        lambda d: d["seats"][1].update(queues=["enterprize"]),
        "seats[1].queues: unknown queue 'enterprize'",
    ),
    (
        "duplicate seat",
        lambda d: d["seats"][1].update(id="1001"),
        "seats[1].id: '1001' appears more than once",
    ),
    (
        "bad time zone",
        lambda d: d["site"].update(timezone="Mars/Base"),
        "site.timezone: 'Mars/Base' is not a time zone name like 'Asia/Shanghai'",
    ),
    (
        "impossible hours",
        lambda d: d["queues"][0].update(hours={"periods": ["25:00-26:00"]}),
        "queues[0].hours.periods[0]: '25:00-26:00' has a time that does not exist",
    ),
    (
        "period across midnight",
        lambda d: d["queues"][0].update(hours={"periods": ["22:00-06:00"]}),
        "queues[0].hours.periods[0]: '22:00-06:00' ends before it starts",
    ),
    (
        "matter code with letters",
        lambda d: d["matters"][0].update(code="A1"),
        "matters[0].code: 'A1' must be 1 to 6 digits (seats key it on the phone)",
    ),
    (
        "bad contact",
        lambda d: d["seats"][0].update(contact="http://127.0.0.1"),
        "seats[0].contact: 'http://127.0.0.1' is not a SIP contact like 'sip:192.0.2.10:5060'",
    ),
    (
        "matter of an unknown department",
        lambda d: d["matters"][1].update(department="police"),
        "matters[1].department: unknown department 'police'",
    ),
    (
        "number nobody can reach",
        lambda d: (
            d["trunks"][0].pop("outbound_contact"),
            d["departments"][0]["numbers"].append("075588880000"),
        ),
        "departments[0].numbers[3]: '075588880000' is not one of the site's phones",
    ),
    (
        "host name as bind address",
        lambda d: d["sip"].update(bind="localhost"),
        "sip.bind: 'localhost' is not an IP address",
    ),
    (
        "no enterprise queue",
        lambda d: d["queues"][0].update(name="business"),
        "queues: the site needs a queue named 'enterprise'",
    ),
    (
        "letters in a hotline number",
        lambda d: d["trunks"][0].update(numbers=["12345abc"]),
        "trunks[0].numbers[0]: '12345abc' must be a dialable number",
    ),
    (
        "seat id clashes with a phone",
        lambda d: d["phones"][0].update(number="1002"),
        "'1002' is used by more than one of seats, phones and trunks",
    ),
    (
        "tiny RTP range",
        lambda d: d["sip"].update(rtp_ports=[10000, 10010]),
        "sip.rtp_ports: leaves fewer than 50 calls' worth of RTP ports",
    ),
    (
        "a seat name that would start a new pjsip.conf section",
        lambda d: d["seats"][0].update(name='x"\n[9999](hotline-endpoint)'),
        "seats[0].name: 'x\"\\n[9999](hotline-endpoint)' must not contain control characters",
    ),
    (
        "an external address with a line of configuration in it",
        lambda d: d["sip"].update(external_address="192.0.2.1\ncontext = hotline-inbound"),
        "sip.external_address: '192.0.2.1\\ncontext = hotline-inbound' is not an IP address or",
    ),
    (
        "a department name with a carriage return",
        lambda d: d["departments"][0].update(name="Tax\r"),
        "departments[0].name: 'Tax\\r' must not contain control characters",
    ),
    (
        "ARI on the SIP port",
        lambda d: d.setdefault("services", {}).update(ari_port=5060),
        "services.ari_port: 5060 is also sip.port; each needs its own port",
    ),
    (
        "the web app on AMI's port",
        lambda d: d.setdefault("services", {}).update(web_port=5038),
        "services.web_port: 5038 is also services.ami_port",
    ),
    (
        "the AGI port among the RTP ports",
        lambda d: d.setdefault("services", {}).update(agi_port=12000),
        "services.agi_port: 12000 is inside sip.rtp_ports (10000-20000)",
    ),
]


@pytest.mark.parametrize(
    ("mutation", "expected"), [(m, e) for _, m, e in BROKEN], ids=[name for name, _, _ in BROKEN]
)
def test_a_broken_site_file_is_refused_with_the_key_named(
    mutation: Mutation, expected: str
) -> None:
    data = copy.deepcopy(_example())
    mutation(data)
    with pytest.raises(SiteError) as refused:
        parse_site(data, "site.toml")
    assert any(problem.startswith(expected) for problem in refused.value.problems), (
        refused.value.problems
    )
    assert "site file site.toml has" in str(refused.value)


def test_every_problem_is_listed_not_just_the_first() -> None:
    data = _example()
    data["seats"][0]["queues"] = ["nowhere"]
    data["matters"][0]["department"] = "nobody"
    with pytest.raises(SiteError) as refused:
        parse_site(data)
    assert len(refused.value.problems) == 2


def test_every_bad_period_is_reported() -> None:
    data = _example()
    data["queues"][0]["hours"] = {"periods": ["08:00-09:00", "25:00-26:00", "7-9", "22:00-06:00"]}
    with pytest.raises(SiteError) as refused:
        parse_site(data)
    assert [p.split(":")[0] for p in refused.value.problems] == [
        "queues[0].hours.periods[1]",
        "queues[0].hours.periods[2]",
        "queues[0].hours.periods[3]",
    ]


@pytest.mark.parametrize(
    ("write", "sentence"),
    [
        (lambda p: p.mkdir(), "is a directory; name the site file"),
        (lambda p: p.write_bytes("[site]\nname = 'Caf\u00e9'\n".encode("latin-1")), "is not UTF-8"),
        (lambda p: p.write_bytes(b"\x00\xff\xfe garbage"), "is not UTF-8"),
        (lambda p: p.write_text("[site]\nname = 'x'\n" * 2), "is not valid TOML"),
    ],
    ids=["directory", "latin-1", "binary", "duplicate table"],
)
def test_an_unusable_file_gets_one_sentence_not_a_traceback(
    tmp_path: Path, write: Callable[[Path], object], sentence: str
) -> None:
    path = tmp_path / "site.toml"
    write(path)
    with pytest.raises(SiteError) as refused:
        load_site(path)
    assert len(refused.value.problems) == 1
    assert sentence in refused.value.problems[0]


def test_a_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[site\nname = 'x'\n")
    with pytest.raises(SiteError, match="is not valid TOML"):
        load_site(broken)


def test_a_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(SiteError, match="pass --site or set HOTLINE_SITE"):
        load_site(tmp_path / "absent.toml")


def test_the_services_are_reached_on_loopback_when_they_listen_everywhere() -> None:
    assert ServiceSettings(bind="0.0.0.0").local_host == "127.0.0.1"
    assert ServiceSettings(bind="192.0.2.10").local_host == "192.0.2.10"
