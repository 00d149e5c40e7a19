"""Call-backs through the real Stasis application against a scripted Asterisk: a caller who
keys 1 is let go and called back in their turn — a seat rung first, then the company through
the trunk with the hotline's number; busy is tried again later, and given up after the last
attempt; a red-list call-back asked for later is served first; a company that calls in again
cancels its call-back, even one whose attempt is ringing a seat. (On the real PBX with SIPp as
the carrier: tests/integration.)"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callback.book import Booked, is_attempt
from cdr.models import CallbackAttempt, CallbackRequest, CallLeg
from core import clock, keys
from tests.unit.ari_script import Script, scripted_site

CARRIER = [
    {
        "name": "carrier",
        "match": ["127.0.0.2"],
        "numbers": ["12345"],
        "outbound_contact": "sip:127.0.0.2:5060",
    }
]
COMPANY = "02150000001"


@pytest.fixture
async def script(
    redis: Redis, factory: sessionmaker[Session], time: clock.ManualClock
) -> AsyncIterator[Script]:
    site = scripted_site(trunks=CARRIER, callbacks={"attempts": 3, "retry_after": 60})
    async with Script(redis, factory, time, site) as running:
        yield running


async def _keys_1_while_waiting(script: Script, redis: Redis, number: str = COMPANY) -> str:
    """A caller waits (every seat paused), keys 1 and is let go; its channel."""
    caller = script.caller_arrives(number)
    await script.quiet()
    script.key(caller, "1")
    await script.until(lambda: any(m.endswith("/callback-noted") for m in script.playing()), "told")
    script.finish_prompts("callback-noted")
    await script.until(lambda: caller not in script.ari.channels_, "the caller is let go")
    await script.over(caller)
    return caller


async def _pause_all(redis: Redis) -> None:
    for seat in ("1001", "1002"):
        await redis.hset(keys.SEATS_PAUSED, seat, "lunch")


def _company_legs(script: Script) -> list[str]:
    return [leg for leg in script.ringing() if is_attempt(leg)]


async def test_a_caller_who_keys_1_is_called_back_a_seat_first_then_the_company(
    script: Script, redis: Redis
) -> None:
    await _pause_all(redis)
    caller = await _keys_1_while_waiting(script, redis)
    assert await redis.zcard(keys.line_waiting("enterprise")) == 0, "the caller left the line"
    (started,) = await script.app.calling_back.start_due()
    attempt = started.caller_id
    await script.quiet()
    assert is_attempt(attempt) and not script.ringing(), "no seat is free: it waits its turn"
    assert await redis.zrange(keys.line_waiting("enterprise"), 0, -1) == [attempt.encode()]

    await script.app.seats.resume("1001")
    await script.until(lambda: bool(script.ringing("PJSIP/1001")), "the seat is rung first")
    assert not _company_legs(script), "the company is not dialled before a seat answers"
    (seat,) = script.ringing("PJSIP/1001")
    script.answer(seat)
    await script.until(lambda: bool(_company_legs(script)), "the company is dialled")
    (company,) = _company_legs(script)
    assert company == attempt
    originate = next(r for r in script.ari.called("originate") if r[1] == company)
    assert originate[0] == f"PJSIP/{COMPANY}@carrier" and originate[2] == "12345"
    assert any(m.startswith("tone:ring") for m in script.playing()), "the seat hears ringback"
    assert script.bridge_of(seat) == [seat]

    script.answer(company)
    await script.until(lambda: script.bridge_of(seat) == [seat, company], "both talk")
    await script.quiet()
    assert not any(m.startswith("tone:ring") for m in script.playing())
    assert await redis.zcard(keys.CALLBACKS_DUE) == 0 and not await redis.hlen(
        keys.CALLBACK_ATTEMPTS
    )
    script.hang_up(company)
    await script.over(company)
    await script.records()
    with script.sessions() as session:
        request = session.execute(select(CallbackRequest)).scalar_one()
        (tried,) = session.execute(select(CallbackAttempt)).scalars()
        leg = session.execute(select(CallLeg).where(CallLeg.caller_channel == company)).scalar_one()
    assert (request.caller_channel, request.reason, request.number) == (caller, "callback", COMPANY)
    assert (request.state, request.attempts, request.reached_at is not None) == ("reached", 0, True)
    assert (tried.outcome, tried.seat_id, tried.attempt) == ("reached", "1001", 1)
    assert (leg.callback_request, leg.seat_id, leg.outcome) == (caller, "1001", "caller-hangup")
    assert await redis.hget(keys.SEATS_BUSY, "1001") is None


async def test_a_busy_company_is_called_again_later_and_given_up_after_the_last_attempt(
    script: Script, redis: Redis
) -> None:
    await _pause_all(redis)
    caller = await _keys_1_while_waiting(script, redis)
    await script.app.seats.resume("1001")
    for attempt in (1, 2, 3):
        (started,) = await script.app.calling_back.start_due()
        await script.until(lambda: bool(script.ringing("PJSIP/1001")), "the seat rings")
        (seat,) = script.ringing("PJSIP/1001")
        script.answer(seat)
        await script.until(lambda: bool(_company_legs(script)), f"attempt {attempt} dials")
        script.fail(started.caller_id, 17)  # busy
        await script.over(started.caller_id)
        assert seat not in script.ari.channels_, "the seat is let go"
        assert not await script.app.calling_back.start_due(), "not again before retry_after"
        await script.advance(60)
    assert not await script.app.calling_back.start_due(), "given up after three"
    await script.records()
    with script.sessions() as session:
        request = session.execute(select(CallbackRequest)).scalar_one()
        outcomes = [a.outcome for a in session.execute(select(CallbackAttempt)).scalars()]
    assert (request.caller_channel, request.state, request.attempts) == (caller, "given-up", 3)
    assert outcomes == ["busy", "busy", "busy"]
    assert not await redis.keys("hotline:callback*")


async def test_a_red_list_call_back_asked_for_later_is_served_first(
    script: Script, redis: Redis
) -> None:
    await _pause_all(redis)
    plain = script.caller_arrives("02150000001")
    red = script.caller_arrives("02150000002", tier="key-firm")
    await script.quiet()
    for caller in (plain, red):
        script.key(caller, "1")
    await script.until(
        lambda: sum(m.endswith("/callback-noted") for m in script.playing()) == 2, "both told"
    )
    script.finish_prompts("callback-noted")
    started = await script.app.calling_back.start_due()
    assert len(started) == 2
    await script.quiet()
    order = await redis.zrange(keys.line_waiting("enterprise"), 0, -1)
    assert order == [c.caller_id.encode() for c in reversed(started)], "the red-list one first"
    await script.app.seats.resume("1001")
    await script.until(lambda: bool(script.ringing("PJSIP/1001")), "a seat rings")
    first = next(call for call in started if call.caller.seat is not None)
    assert first.caller.number == "02150000002", "the red-list firm's call-back first"


async def test_a_company_that_calls_in_again_cancels_its_pending_call_back(
    script: Script, redis: Redis
) -> None:
    await _pause_all(redis)
    await _keys_1_while_waiting(script, redis)
    assert await redis.zcard(keys.CALLBACKS_DUE) == 1
    again = script.caller_arrives(COMPANY)
    await script.until_stored(
        lambda: _none_due(redis), "the call-back is cancelled when the company calls again"
    )
    script.hang_up(again)
    await script.over(again)
    await script.records()
    with script.sessions() as session:
        request = session.execute(select(CallbackRequest)).scalar_one()
    assert request.state == "cancelled"
    assert not await script.app.calling_back.start_due()


async def test_a_company_that_calls_in_while_its_call_back_rings_a_seat_calls_it_off(
    script: Script, redis: Redis
) -> None:
    await _pause_all(redis)
    await _keys_1_while_waiting(script, redis)
    (started,) = await script.app.calling_back.start_due()
    await script.app.seats.resume("1001")
    await script.until(lambda: bool(script.ringing("PJSIP/1001")), "the seat is rung for it")
    (seat,) = script.ringing("PJSIP/1001")
    commands = redis.pubsub()
    await commands.subscribe(keys.COMMANDS)
    again = script.caller_arrives(COMPANY)
    heard = None
    for _ in range(50):  # the cancel tells the process making the attempt
        heard = heard or await commands.get_message(ignore_subscribe_messages=True, timeout=0.1)
    await commands.aclose()
    assert heard is not None, "no command to call the attempt off"
    assert json.loads(heard["data"]) == {"call": started.caller_id, "action": "call-off"}
    script.app.hear(heard)
    await script.until(lambda: seat not in script.ari.channels_, "the seat stops ringing")
    await script.over(started.caller_id)
    await script.until(
        lambda: bool(script.ringing("PJSIP/1001")), "the seat rings for the company's own call"
    )
    assert not _company_legs(script), "the company is not dialled"
    script.hang_up(again)
    await script.over(again)
    await script.records()
    with script.sessions() as session:
        request = session.execute(select(CallbackRequest)).scalar_one()
        outcomes = [a.outcome for a in session.execute(select(CallbackAttempt)).scalars()]
    assert (request.state, outcomes) == ("cancelled", ["cancelled"])
    assert not await redis.keys("hotline:callback*")
    assert not await script.app.calling_back.start_due()


async def _none_due(redis: Redis) -> bool:
    return not await redis.zcard(keys.CALLBACKS_DUE)


async def test_when_asterisk_dies_its_callers_are_called_back_the_talking_ones_with_their_seats(
    script: Script, redis: Redis
) -> None:
    await script.app.notice_restart()  # the Asterisk the app connected to
    talking = {}
    for seat in ("1001", "1002"):
        caller = script.caller_arrives(f"0215000010{seat[-1]}")
        endpoint = f"PJSIP/{seat}"
        await script.until(lambda: bool(script.ringing(endpoint)), f"{seat} rings")  # noqa: B023
        (leg,) = script.ringing(endpoint)
        script.answer(leg)
        await script.until(lambda: len(script.bridge_of(caller)) == 2, "talking")  # noqa: B023
        talking[seat] = caller
    first = script.caller_arrives("02150000201")
    await script.advance(1)
    second = script.caller_arrives("02150000202")
    await script.quiet()
    assert await script.app.line("enterprise").callers() == [first, second]

    script.ari.channels_.clear()  # Asterisk killed: every channel and bridge gone...
    script.ari.bridges_.clear()
    script.ari.startup = "2026-11-23T10:00:05.000+0800"  # ...and started again
    await script.app.notice_restart()
    await script.app.takeover.take_over(script.app.name)  # as at every reconnection
    for caller in (*talking.values(), first, second):
        await script.over(caller)
    assert not await redis.hgetall(keys.SEATS_BUSY), "no seat held for a call that went"
    assert not await redis.zcard(keys.line_waiting("enterprise"))

    started = {call.caller.number: call for call in await script.app.calling_back.start_due()}
    await script.quiet()
    assert len(started) == 2, "the cut calls first, the waiting ones at the next look"
    started |= {call.caller.number: call for call in await script.app.calling_back.start_due()}
    await script.quiet()
    for seat in talking:  # at once, each with the seat it was talking to
        got = started[f"0215000010{seat[-1]}"].caller.seat
        assert got is not None and got.seat_id == seat
    waiting = [started["02150000201"].caller_id, started["02150000202"].caller_id]
    line = await script.app.line("enterprise").callers()
    assert [member for member in line if member in waiting] == waiting, "in their order"
    await script.records()
    with script.sessions() as session:
        ended = session.execute(select(CallLeg.outcome).where(CallLeg.callback_request.is_(None)))
        reasons = session.execute(select(CallbackRequest.reason)).scalars()
        assert set(ended.scalars()) == {"pbx-lost"}
        assert list(reasons) == ["pbx-lost"] * 4


async def test_the_call_backs_of_cut_calls_start_before_the_others(
    script: Script, redis: Redis
) -> None:
    """Calls a dead PBX (or node) cut are called back first, each with the seat it had; the
    others start at the next look, once those have joined the line (else one of them, ahead
    in line, could take a cut call's seat)."""
    await _pause_all(redis)
    now = clock.time()
    book = script.app.calling_back.book
    for request, number, prefer in (
        ("waiting-1", "02150000005", None),
        ("talking-1", "02150000003", "1001"),
        ("waiting-2", "02150000006", None),
    ):
        entry = Booked(
            request, "enterprise", number, now - 30, None, "company", None, "", "pbx-lost",
            now, 0, prefer,
        )  # fmt: skip
        await book.book(entry, now)
    first = await script.app.calling_back.start_due()
    assert [call.caller.number for call in first] == ["02150000003"]
    then = await script.app.calling_back.start_due()
    assert sorted(call.caller.number for call in then) == ["02150000005", "02150000006"]
