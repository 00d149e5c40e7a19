"""Three-way transfers through the real Stasis application, against a scripted Asterisk:
the seat keys a matter, the department's numbers are dialled in turn with ringback in the
bridge, busy forwards, the specialist joins caller and seat; nobody reachable or a closed
department makes a work order; the seat cancels or leaves; the caller hangs up first. The
same flows on the real PBX, with audio, are in tests/integration/test_transfer.py."""

from __future__ import annotations

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdr.models import CallLeg
from core import clock, keys
from tests.unit.ari_script import SPECIALIST_A, SPECIALIST_B, Script
from transfer.models import TransferAttempt, TransferRequest, WorkOrder
from transfer.state import status_from_json


async def talking(script: Script) -> tuple[str, str]:
    """A caller put through to seat 1001: (caller, seat's leg)."""
    caller = script.caller_arrives()
    await script.until(lambda: bool(script.ringing("PJSIP/1001")), "1001 rings")
    (leg,) = script.ringing("PJSIP/1001")
    script.answer(leg)
    await script.until(lambda: len(script.bridge_of(caller)) == 2, "caller and seat talk")
    return caller, leg


def specialist_ringing(script: Script, number: str) -> list[str]:
    return script.ringing(f"PJSIP/{number}")


def transfer_of(script: Script, caller: str) -> tuple[TransferRequest, list[TransferAttempt]]:
    with script.sessions() as session:
        request = session.execute(
            select(TransferRequest).where(TransferRequest.caller_channel == caller)
        ).scalar_one()
        attempts = list(
            session.execute(
                select(TransferAttempt)
                .where(TransferAttempt.request_id == request.id)
                .order_by(TransferAttempt.position)
            ).scalars()
        )
        session.expunge_all()
    return request, attempts


async def end(script: Script, caller: str) -> None:
    if caller in script.ari.channels_:
        script.hang_up(caller)
    await script.over(caller)
    await script.records()


async def test_the_specialist_who_answers_joins_caller_and_seat_in_one_bridge(
    script: Script, redis: Redis
) -> None:
    caller, seat = await talking(script)
    script.key(seat, "*101#")
    await script.until(lambda: bool(specialist_ringing(script, SPECIALIST_A)), "A rings")
    await script.until(lambda: "tone:ring;tonezone=cn" in script.playing(), "ringback")
    assert script.ari.called("originate")[-1][2] == "12345", "the hotline's number is shown"
    (spec,) = specialist_ringing(script, SPECIALIST_A)
    script.answer(spec)
    await script.until(lambda: len(script.bridge_of(caller)) == 3, "all three in one bridge")
    assert "tone:ring;tonezone=cn" not in script.playing(), "the ringback stopped"

    async def connected() -> bool:
        status = status_from_json(await redis.get(keys.transfer_status(caller)))
        return status is not None and status["state"] == "connected"

    await script.until_stored(connected, "the console sees the specialist connected")
    await end(script, caller)
    assert not script.ari.channels_ and not script.ari.bridges_, "nothing left"
    request, attempts = transfer_of(script, caller)
    assert (request.outcome, request.answered_number, request.via) == (
        "answered",
        SPECIALIST_A,
        "keypad",
    )
    assert [(a.number, a.outcome) for a in attempts] == [(SPECIALIST_A, "answered")]
    live = await script.live.window("department", "tax", 15)
    assert (live.answered, live.requests) == (1, 1)


async def test_a_busy_number_forwards_to_the_next_one(script: Script) -> None:
    caller, seat = await talking(script)
    script.key(seat, "*101#")
    await script.until(lambda: bool(specialist_ringing(script, SPECIALIST_A)), "A rings")
    script.fail(specialist_ringing(script, SPECIALIST_A)[0], cause=17, sip=486)
    await script.until(lambda: bool(specialist_ringing(script, SPECIALIST_B)), "B rings")
    assert script.playing().count("tone:ring;tonezone=cn") == 1, "one ringback all along"
    script.answer(specialist_ringing(script, SPECIALIST_B)[0])
    await script.until(lambda: len(script.bridge_of(caller)) == 3, "B joins")
    await end(script, caller)
    request, attempts = transfer_of(script, caller)
    assert [(a.number, a.outcome, a.sip_code) for a in attempts] == [
        (SPECIALIST_A, "busy", 486),
        (SPECIALIST_B, "answered", None),
    ]
    assert (request.outcome, request.answered_number) == ("answered", SPECIALIST_B)


async def test_when_nobody_answers_caller_and_seat_hear_it_and_a_work_order_is_made(
    redis: Redis, factory: sessionmaker[Session], time: clock.ManualClock
) -> None:
    async with Script(redis, factory, time, unregistered={"1009", SPECIALIST_B}) as script:
        caller, seat = await talking(script)
        script.key(seat, "*101#")
        await script.until(lambda: bool(specialist_ringing(script, SPECIALIST_A)), "A rings")
        script.fail(specialist_ringing(script, SPECIALIST_A)[0], cause=19)  # rings out
        # B is not registered: refused at once; nobody left
        await script.until(
            lambda: any(m.endswith("/transfer-failed") for m in script.playing()), "the message"
        )
        _media, target = next(
            (m, t) for m, t in script.ari.playbacks.values() if m.endswith("/transfer-failed")
        )
        assert target.startswith("bridge:"), "caller and seat hear it together"
        script.finish_prompts("transfer-failed")
        await script.quiet()
        assert len(script.bridge_of(caller)) == 2, "caller and seat go on talking"
        status = status_from_json(await redis.get(keys.transfer_status(caller)))
        assert status is not None and not status["message_pending"], "the console sees it end"
        await end(script, caller)
        request, attempts = transfer_of(script, caller)
        assert [(a.number, a.outcome) for a in attempts] == [
            (SPECIALIST_A, "no-answer"),
            (SPECIALIST_B, "unavailable"),
        ]
        with script.sessions() as session:
            order = session.get(WorkOrder, request.work_order_id)
            assert order is not None
            assert (order.level, order.reason, order.state, order.department_code) == (
                "second-urgent",
                "unanswered",
                "open",
                "tax",
            )
        assert request.outcome == "failed"


async def test_a_closed_department_is_not_dialled_and_gets_a_work_order(script: Script) -> None:
    caller, seat = await talking(script)
    script.key(seat, "*903#")  # the night department, closed at 10:00
    await script.until(
        lambda: any(m.endswith("/department-closed") for m in script.playing()), "the message"
    )
    assert len(script.ari.called("originate")) == 1, "only the seat was ever dialled"
    await end(script, caller)
    request, attempts = transfer_of(script, caller)
    assert (request.outcome, request.in_hours, attempts) == ("closed", False, [])
    assert request.work_order_id is not None


async def test_the_seat_cancels_while_it_rings_and_the_call_goes_on(script: Script) -> None:
    caller, seat = await talking(script)
    script.key(seat, "*101#")
    await script.until(lambda: bool(specialist_ringing(script, SPECIALIST_A)), "A rings")
    script.key(seat, "*#")
    await script.until(lambda: not specialist_ringing(script, SPECIALIST_A), "hung up")
    assert "tone:ring;tonezone=cn" not in script.playing()
    assert len(script.bridge_of(caller)) == 2
    await end(script, caller)
    request, attempts = transfer_of(script, caller)
    assert request.outcome == "cancelled"
    assert [(a.outcome, a.cancelled_by) for a in attempts] == [("cancelled", "1001")]


async def test_the_seat_leaves_and_the_caller_rates_after_the_specialist_hangs_up(
    script: Script, redis: Redis
) -> None:
    caller, seat = await talking(script)
    script.key(seat, "*101#")
    await script.until(lambda: bool(specialist_ringing(script, SPECIALIST_A)), "A rings")
    spec = specialist_ringing(script, SPECIALIST_A)[0]
    script.answer(spec)
    await script.until(lambda: len(script.bridge_of(caller)) == 3, "three")
    script.key(seat, "*0#")
    await script.until(lambda: seat not in script.ari.channels_, "the seat left")
    assert sorted(script.bridge_of(caller)) == sorted([caller, spec])
    assert await redis.hget(keys.SEATS_BUSY, "1001") is None, "the seat is free for its wrap-up"
    script.hang_up(spec)
    await script.until(lambda: any(m.endswith("/survey") for m in script.playing()), "survey")
    script.key(caller, "1")
    await script.until(lambda: any(m.endswith("/survey-thanks") for m in script.playing()), "thx")
    script.finish_prompts("survey-thanks")
    await script.over(caller)
    await script.records()
    with script.sessions() as session:
        leg = session.execute(select(CallLeg)).scalar_one()
    assert (leg.outcome, leg.satisfaction) == ("specialist-hangup", "satisfied")


async def test_a_caller_who_hangs_up_while_the_specialist_rings_abandons_the_transfer(
    script: Script,
) -> None:
    caller, seat = await talking(script)
    script.key(seat, "*101#")
    await script.until(lambda: bool(specialist_ringing(script, SPECIALIST_A)), "A rings")
    script.hang_up(caller)
    await script.until(lambda: not script.ari.channels_, "every leg hung up")
    await end(script, caller)
    request, attempts = transfer_of(script, caller)
    assert (request.outcome, [a.outcome for a in attempts]) == ("abandoned", ["abandoned"])


async def test_a_transfer_asked_through_the_api_and_an_unknown_matter(
    script: Script, redis: Redis
) -> None:
    caller, _seat = await talking(script)
    events = redis.pubsub()
    await events.subscribe(keys.EVENTS)
    assert await events.get_message(timeout=1) is not None  # subscribed
    script.command(caller, "transfer", matter="999", via="console")
    refused = None
    for _ in range(100):
        message = await events.get_message(ignore_subscribe_messages=True, timeout=0.05)
        if message is not None and b"transfer-refused" in message["data"]:
            refused = message["data"]
            break
    assert refused is not None and b"no matter 999" in refused
    await events.aclose()
    script.command(caller, "transfer", matter="101", via="console")
    await script.until(lambda: bool(specialist_ringing(script, SPECIALIST_A)), "A rings")
    await end(script, caller)
    request, _ = transfer_of(script, caller)
    assert (request.via, request.outcome) == ("console", "abandoned")
