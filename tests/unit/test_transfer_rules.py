"""The transfer's rules without a PBX: the state machine, the seat's keys, how a dial's end
is named, deadlines in working time, work orders, and the plan seeded from the site file."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis

from core.db import make_engine, sessions
from core.events import EVENTS
from core.site import Site
from core.worktime import DayRule, Period, Schedule
from hotline.schema import migrate
from transfer.deadlines import Level
from transfer.keys import CancelTransfer, LeaveCall, MoveCaller, SeatKeypad, StartTransfer
from transfer.orders import OrderError, WorkOrders
from transfer.plan import TransferPlan
from transfer.state import TransferState, TransferStatus, attempt_outcome

SHANGHAI = ZoneInfo("Asia/Shanghai")
TAX_HOURS = Schedule(
    DayRule.WORKING_DAYS,
    (Period.parse("09:00-12:00"), Period.parse("13:30-17:30")),
    SHANGHAI,
)


def _at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


# --- the state's trip through Redis (the table's rows: test_transfer_table.py) -------------


def test_a_status_survives_its_trip_through_redis_json() -> None:
    status = TransferStatus("r7", "call", "901", "tax", ["A", "B"], attempt=2)
    status.state = TransferState.RINGING
    status.history.append("dialing --dialed--> ringing")
    again = TransferStatus.from_dict(json.loads(status.to_json(1_795_000_000.0)))
    assert again == status and again.number == "B" and not again.numbers_left


# --- the seat's keys ---------------------------------------------------------------------


def _press(pad: SeatKeypad, keys: str, at: float = 0.0) -> list[object]:
    return [command for key in keys if (command := pad.press(key, at)) is not None]


def test_the_seat_keys_mean_what_the_docs_say() -> None:
    assert _press(SeatKeypad(), "*101#") == [StartTransfer("101")]
    assert _press(SeatKeypad(), "#") == [MoveCaller()]
    assert _press(SeatKeypad(), "*#") == [CancelTransfer()]
    assert _press(SeatKeypad(), "*0#") == [LeaveCall()]
    assert _press(SeatKeypad(), "12*3*45#") == [StartTransfer("45")]  # a new * starts again
    assert _press(SeatKeypad(), "*1234567#") == [StartTransfer("123456")]  # at most 6 digits


def test_an_unfinished_code_is_forgotten() -> None:
    pad = SeatKeypad()
    assert pad.press("*", 0.0) is None and pad.press("1", 1.0) is None
    assert pad.press("#", 20.0) == MoveCaller()  # 19 s later: the code was dropped


@pytest.mark.parametrize(
    ("cause", "sip", "outcome"),
    [
        (17, 486, "busy"),
        (19, None, "no-answer"),
        (21, 603, "rejected"),
        (20, None, "unavailable"),
        (16, 404, "unavailable"),
        (34, 503, "failed"),
        (None, None, "failed"),
    ],
)
def test_how_a_dial_ended_is_named(cause: int | None, sip: int | None, outcome: str) -> None:
    assert attempt_outcome(cause, sip) == outcome


# --- deadlines in working time -----------------------------------------------------------


def test_24_working_hours_skip_nights_holidays_and_use_make_up_days() -> None:
    # Wed 30 Sep 2026, 16:00: 1.5 h left that day; 1-7 Oct is the National Day holiday;
    # Thu 8, Fri 9 and Sat 10 Oct (a make-up working day) give 21 h; Mon 12 the last 1.5 h
    assert TAX_HOURS.add_open_time(_at(2026, 9, 30, 16), timedelta(hours=24)) == _at(
        2026, 10, 12, 10, 30
    )
    # made at night: counting starts when the bureau opens
    assert TAX_HOURS.add_open_time(_at(2026, 11, 23, 22), timedelta(hours=2)) == _at(
        2026, 11, 24, 11
    )


def test_three_working_days_end_at_the_close_of_the_third() -> None:
    assert TAX_HOURS.add_open_days(_at(2026, 9, 30, 16), 3) == _at(2026, 10, 10, 17, 30)


# --- work orders -------------------------------------------------------------------------


@pytest.fixture
def plan_and_orders(site: Site, tmp_path: Path) -> tuple[TransferPlan, WorkOrders]:
    url = f"sqlite:///{tmp_path / 'plan.db'}"
    migrate(url)
    factory = sessions(make_engine(url))
    plan = TransferPlan(factory, site.timezone)
    plan.seed(site)
    return plan, WorkOrders(factory, site.timezone)


def test_orders_get_their_deadline_and_move_through_their_states(
    plan_and_orders: tuple[TransferPlan, WorkOrders],
) -> None:
    _, orders = plan_and_orders
    made = _at(2026, 9, 30, 16)
    order = orders.create("tax", Level.SECOND_URGENT, "unanswered", made, matter="101")
    assert order["number"] == "WO20260930-0001" and order["state"] == "open"
    assert order["deadline_at"] == _at(2026, 10, 12, 10, 30)
    second = orders.create("tax", Level.SEVEN_DAYS, "manual", made)
    assert second["number"] == "WO20260930-0002"
    with pytest.raises(OrderError, match="cannot be closed"):
        orders.act(order["number"], "close", made)
    orders.act(order["number"], "accept", made)
    with pytest.raises(OrderError, match="both"):
        orders.act(order["number"], "reply", made, "we called the firm", "")
    replied = orders.act(order["number"], "reply", made, "we called the firm", "solved")
    assert (replied["reply_to_company"], replied["report_to_hotline"]) == (
        "we called the firm",
        "solved",
    )
    assert orders.act(order["number"], "close", made)["state"] == "closed"
    with pytest.raises(OrderError, match="unknown department"):
        orders.create("nowhere", Level.IMMEDIATE, "manual", made)


def test_overdue_orders_are_marked_once_with_a_reminder_event(
    plan_and_orders: tuple[TransferPlan, WorkOrders], redis_url: str
) -> None:
    _, orders = plan_and_orders

    async def run() -> tuple[list[str], list[str], list[dict[str, object]]]:
        redis = Redis.from_url(redis_url)
        orders.redis = redis
        pubsub = redis.pubsub()
        await pubsub.subscribe(EVENTS)
        made = _at(2026, 11, 23, 10)
        late = orders.create("tax", Level.IMMEDIATE, "manual", made)
        orders.create("tax", Level.FIFTEEN_DAYS, "manual", made)
        first = await orders.mark_overdue(made + timedelta(hours=3))
        again = await orders.mark_overdue(made + timedelta(hours=4))
        events = []
        for _ in range(5):  # the subscription's confirmation, then the reminder(s)
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.3)
            if message is not None:
                events.append(json.loads(message["data"]))
        await pubsub.aclose()
        await redis.aclose()
        assert first == [late["number"]]
        return first, again, events

    first, again, events = asyncio.run(run())
    assert again == []
    assert [(e["type"], e["order"]) for e in events] == [("order-overdue", first[0])]


# --- the plan ----------------------------------------------------------------------------


def test_the_site_file_seeds_the_plan_without_undoing_edits(
    site: Site, plan_and_orders: tuple[TransferPlan, WorkOrders]
) -> None:
    plan, _ = plan_and_orders
    assert len(plan.matters()) == len(site.matters)
    assert len(plan.departments()) == len(site.departments)
    plan.put_matter("101", "VAT invoices", "tax", ["02161001002"], "")
    assert plan.seed(site) == 0  # nothing new; the edit stays
    route = plan.route("101")
    assert route is not None and route.numbers == ("02161001002",)
    assert plan.route("102") is not None and plan.route("102").numbers[0] == "02161001001"  # type: ignore[union-attr]
    assert plan.route("999") is None
    assert [m["code"] for m in plan.matters("provident")][:1] == ["401"]


def test_a_dialled_leg_names_its_caller() -> None:
    from ari_app.legs import caller_of, kind_of, leg_id
    from core.actions import LegKind

    assert caller_of(leg_id(LegKind.SEAT, "1795417883.243")) == "1795417883.243"
    assert caller_of(leg_id(LegKind.SPECIALIST, "1795417883.9")) == "1795417883.9"
    assert kind_of(leg_id(LegKind.SPECIALIST, "1795417883.9")) is LegKind.SPECIALIST
    assert kind_of("1795417883.9") is None
    assert caller_of("1795417883.243") is None and caller_of("seat-") is None
