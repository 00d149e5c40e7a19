"""Work-order reminders sent: to the department's webhook and email address, the
supervisors' for an escalation, each try recorded (``order_reminders``) with whether it
arrived. When they are due is ``transfer.chasing``'s decision; a target that did not take a
reminder is tried again at the next round, :data:`TRIES` times at most.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections import defaultdict
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core import clock
from core.site import Site, SmtpSettings
from transfer.chasing import ANSWERED, STAGES, Audience, ChaseRules, OrderView, Stage, due
from transfer.models import OrderReminder, WorkOrder

log = logging.getLogger(__name__)

TRIES = 3
"""Times a reminder is tried on one target before it is left recorded as not delivered."""
TIMEOUT = 10.0
"""Seconds a webhook or the mail server has to take a reminder."""
WORDS = {
    Stage.NEAR: ("即将到期", "is near its deadline"),
    Stage.OVERDUE: ("已超期", "is past its deadline"),
    Stage.ESCALATED: ("超期未办，请督办", "is past its deadline and still unanswered"),
}

Target = tuple[str, str]
"""A channel (``webhook``, ``email``) and where on it."""


class Reminders:
    """Chases the unanswered work orders of a site."""

    def __init__(self, site: Site, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.zone: ZoneInfo = site.timezone
        self.rules = ChaseRules(site.orders.remind_at, timedelta(hours=site.orders.escalate_after))
        self.smtp = site.smtp
        self.targets: dict[tuple[Audience, str], list[Target]] = defaultdict(list)
        for department in site.departments:
            key = (Audience.DEPARTMENT, department.code)
            if department.webhook:
                self.targets[key].append(("webhook", department.webhook))
            if department.email and site.smtp:
                self.targets[key].append(("email", department.email))
        if site.orders.supervisors_webhook:
            self.targets[(Audience.SUPERVISORS, "")].append(
                ("webhook", site.orders.supervisors_webhook)
            )
        if site.orders.supervisors_email and site.smtp:
            self.targets[(Audience.SUPERVISORS, "")].append(
                ("email", site.orders.supervisors_email)
            )

    def _targets(self, audience: Audience, department: str) -> list[Target]:
        return self.targets.get(
            (audience, "" if audience is Audience.SUPERVISORS else department), []
        )

    async def round(self, now: datetime | None = None) -> int:
        """Send every reminder due now; how many arrived."""
        moment = now or clock.now()
        orders, tried = await asyncio.to_thread(self._unanswered)
        arrived = 0
        for order in orders:
            mine = tried[order.number]
            done = {
                stage
                for stage, audience, _ in STAGES
                if all(_finished(mine, stage, t) for t in self._targets(audience, order.department))
            }
            for stage, audience in due(order, done, moment, self.rules):
                for target in self._targets(audience, order.department):
                    if _finished(mine, stage, target):
                        continue
                    delivered, detail = await self._send(order, stage, target, moment)
                    arrived += delivered
                    await asyncio.to_thread(
                        self._record, order.number, stage, target, moment, delivered, detail
                    )
        return arrived

    def _unanswered(self) -> tuple[list[OrderView], dict[str, list[OrderReminder]]]:
        with self.sessions() as session:
            rows = session.execute(
                select(WorkOrder).where(WorkOrder.state.not_in(sorted(ANSWERED)))
            ).scalars()
            orders = [
                OrderView(o.number, o.department_code, o.state, o.created_at, o.deadline_at)
                for o in rows
            ]
            tried: dict[str, list[OrderReminder]] = defaultdict(list)
            numbers = [order.number for order in orders]
            if numbers:
                for reminder in session.execute(
                    select(OrderReminder).where(OrderReminder.order_number.in_(numbers))
                ).scalars():
                    tried[reminder.order_number].append(reminder)
            session.expunge_all()
        return orders, tried

    def _record(
        self, number: str, stage: Stage, target: Target, at: datetime, delivered: bool, detail: str
    ) -> None:
        with self.sessions.begin() as session:
            session.add(
                OrderReminder(
                    order_number=number, stage=stage.value, channel=target[0], target=target[1],
                    at=at, delivered=delivered, detail=detail[:300],
                )
            )  # fmt: skip

    async def _send(
        self, order: OrderView, stage: Stage, target: Target, at: datetime
    ) -> tuple[bool, str]:
        channel, where = target
        body = self.message(order, stage)
        try:
            if channel == "webhook":
                async with httpx.AsyncClient(timeout=TIMEOUT) as client:
                    response = await client.post(where, json=body)
                if response.is_success:
                    return True, f"HTTP {response.status_code}"
                return False, f"HTTP {response.status_code}"
            assert self.smtp is not None
            await asyncio.to_thread(_mail, self.smtp, where, body)
            return True, f"accepted by {self.smtp.host}"
        except (httpx.HTTPError, OSError, smtplib.SMTPException) as error:
            log.warning("reminder of order %s to %s failed: %s", order.number, where, error)
            return False, str(error) or type(error).__name__

    def message(self, order: OrderView, stage: Stage) -> dict[str, Any]:
        """What a reminder says (JSON for a webhook; an email's subject and text)."""
        zh, en = WORDS[stage]
        deadline = order.deadline.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")
        return {
            "event": "order-reminder",
            "stage": stage.value,
            "order": order.number,
            "department": order.department,
            "state": order.state,
            "deadline": order.deadline.astimezone(self.zone).isoformat(),
            "subject": f"[12345] 工单 {order.number} {zh} / work order {order.number} {en}",
            "text": (
                f"工单 {order.number}（{order.department}）{zh}，办理时限 {deadline}。\n"
                f"Work order {order.number} ({order.department}) {en}: due {deadline}."
            ),
        }


def _finished(tried: list[OrderReminder], stage: Stage, target: Target) -> bool:
    """Whether a stage went to a target: it arrived, or it was tried :data:`TRIES` times."""
    mine = [r for r in tried if r.stage == stage.value and (r.channel, r.target) == target]
    return any(r.delivered for r in mine) or len(mine) >= TRIES


def _mail(smtp: SmtpSettings, to: str, body: dict[str, Any]) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = smtp.sender, to, body["subject"]
    message.set_content(body["text"])
    with smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT) as server:
        if smtp.starttls:
            server.starttls()
        server.send_message(message)
