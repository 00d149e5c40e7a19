"""A seat with nothing but a browser: headless Chromium, then Firefox, with a generated
microphone opens the seat's console, its phone registers over WSS, a SIPp caller dials the
hotline, the page rings with the company shown, answers, audio flows both ways (the caller's
phone receives RTP; the page's WebRTC statistics count packets in), a key goes out as RFC
4733, the seat clicks a matter's transfer and a specialist joins; back at the desk phone,
the seat's SIPp phone rings again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager

import pytest
from sqlalchemy import select

from cdr.models import CallLeg
from core import clock
from core.secrets import Secrets
from hotline.stack import Stack
from redlist.service import RedList
from redlist.synthetic import landline
from rig.browser import CONSOLE_AUDIO_IN, Page, chromium, firefox
from rig.orchestrator import CallerSpec, PhoneSpec, Rig, Scenario
from tests.conftest import SPECIALIST_A, seat_phones

pytestmark = pytest.mark.pbx

FIRM = landline(0)  # 示例企业0有限公司, a key firm of the sample registry

SHOWS_THE_RINGING_CALL = """(box => current && current.caller
  && box.dataset.call === current.caller.call
  && document.getElementById('company-name').textContent)(document.getElementById('company-box'))"""
"""The company pane's name once it shows the call ringing the seat (``current`` is the
console's state; until it has the caller the pane may still show the seat's last call to
classify, from an earlier test)."""


@pytest.fixture
def web(stack: Stack) -> Iterator[str]:
    yield stack.start_web()


BROWSERS: dict[str, Callable[[str], AbstractAsyncContextManager[Page]]] = {
    "chromium": lambda url: chromium(url, webrtc=True),
    "firefox": firefox,
}


@pytest.mark.parametrize("browser", BROWSERS)
async def test_a_seat_with_only_a_browser_takes_a_call_and_transfers_it(
    rig: Rig,
    stack: Stack,
    registry: RedList,
    one_seat: str,
    web: str,
    no_callback_pending: None,
    browser: str,
) -> None:
    assert stack.site.sip.webrtc_address, (
        "this machine has no address but loopback for the browser's audio, and no veth pair "
        "could be made (not root?): see rig/network.py"
    )
    token = Secrets.load_or_create(stack.paths.secrets_file).console_token(one_seat)
    since = clock.now()
    async with BROWSERS[browser](f"{web}/console/{one_seat}#token={token}") as page:
        await page.wait_for("window.phone && window.phone.loaded")
        await page.click("#phone-on")
        await page.wait_for("window.phone.state === 'ready'")

        # the seat's SIPp phone is not running: only the browser can take the call
        specialist = PhoneSpec(SPECIALIST_A, 5081, answer_after=1.0, hold=6.0)
        caller = CallerSpec(FIRM, hold=None)
        playing = asyncio.create_task(rig.run(Scenario("browser", (specialist,), (caller,))))
        await page.wait_for("window.phone.state === 'ringing'")
        company = await page.wait_for(SHOWS_THE_RINGING_CALL)
        assert company == "示例企业0有限公司"
        ringing = await page.wait_for("document.getElementById('phone-ringing').textContent")
        assert ringing == "Ringing 来电: 示例企业0有限公司", ringing
        with registry.sessions() as session:
            leg = session.execute(
                select(CallLeg).where(CallLeg.caller_number == FIRM, CallLeg.entered_at >= since)
            ).scalar_one()
            assert leg.answered_at is None, "the page showed the company only after the answer"

        await page.click("#phone-answer")
        await page.wait_for("window.phone.state === 'talking'")
        assert await page.wait_for(f"({CONSOLE_AUDIO_IN}).then(n => n > 50 && n)", within=10)
        await page.click('button[data-key="5"]')  # a key, as RFC 4733 in the page's RTP

        await page.wait_for("!!document.querySelector('button[data-matter=\"901\"]')")
        await page.click('button[data-matter="901"]')
        await page.wait_for(
            "document.getElementById('transfer-status').className === 'connected'", within=20
        )
        await page.click("#phone-hangup")  # the seat leaves: caller and specialist talk on
        await page.wait_for("window.phone.state === 'ready'")
        report = await playing
        assert report.callers[0].exit_code == 0, report.render()
        assert report.callers[0].rtp_received > 100, report.render()
        assert report.phone(SPECIALIST_A).answered == 1, report.render()

        # back at the desk phone: the next call rings the seat's SIPp phone
        await page.click("#phone-off")
        await page.wait_for("window.phone.state === 'desk'")
    seat_port = next(p.port for p in seat_phones(stack.site) if p.name == one_seat)
    desk = PhoneSpec(one_seat, seat_port, answer_after=0.3, hold=1.0)
    back = await rig.run(Scenario("desk-again", (desk,), (CallerSpec(FIRM, hold=None),)))
    assert back.phone(one_seat).answered == 1, back.render()
