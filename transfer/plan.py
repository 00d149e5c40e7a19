"""The transfer plan: which department a matter goes to, and which numbers to dial in turn.

The site file seeds it (``[[departments]]`` and ``[[matters]]``); from then on it lives in
SQL and is edited through the admin API. Seeding only adds what is missing, so an admin's
edits are never overwritten by a restart.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from core.site import Site
from core.worktime import DayRule, Period, Schedule
from transfer.models import Department, Matter
from transfer.state import Route


class PlanError(ValueError):
    """A plan change that cannot be made; the message says why."""


def schedule_of(department: Department, timezone: ZoneInfo) -> Schedule:
    """A department's working time."""
    periods = tuple(Period.parse(text) for text in department.periods.split(",") if text.strip())
    return Schedule(DayRule(department.days), periods, timezone)


def check_hours(days: str, periods: list[str]) -> None:
    """Raise :class:`PlanError` unless these are valid opening hours."""
    try:
        DayRule(days)
    except ValueError:
        raise PlanError(f"days must be 'working-days' or 'every-day', not '{days}'") from None
    if not periods:
        raise PlanError("a department needs at least one opening period")
    for text in periods:
        try:
            Period.parse(text)
        except ValueError as error:
            raise PlanError(str(error)) from None


class TransferPlan:
    """Departments and matters in SQL."""

    def __init__(self, sessions: sessionmaker[Session], timezone: ZoneInfo) -> None:
        self.sessions = sessions
        self.timezone = timezone

    def seed(self, site: Site) -> int:
        """Add the site file's departments and matters that are not in SQL yet; how many."""
        added = 0
        with self.sessions.begin() as session:
            known = set(session.execute(select(Department.code)).scalars())
            for department in site.departments:
                if department.code not in known:
                    session.add(
                        Department(
                            code=department.code,
                            name=department.name,
                            numbers=list(department.numbers),
                            days=department.hours.days.value,
                            periods=",".join(department.hours.periods),
                        )
                    )
                    added += 1
            session.flush()
            matters = set(session.execute(select(Matter.code)).scalars())
            for matter in site.matters:
                if matter.code not in matters:
                    session.add(
                        Matter(
                            code=matter.code,
                            name=matter.name,
                            department_code=matter.department,
                            numbers=list(matter.numbers),
                            script=matter.script,
                        )
                    )
                    added += 1
        return added

    def route(self, matter_code: str) -> Route | None:
        """Where a transfer for this matter goes; None for an unknown code."""
        with self.sessions() as session:
            matter = session.get(Matter, matter_code)
            if matter is None:
                return None
            department = session.get(Department, matter.department_code)
            assert department is not None
            return self._route(matter, department)

    def routes(self) -> dict[str, Route]:
        """Every matter's route (what the application keeps in memory)."""
        with self.sessions() as session:
            rows = session.execute(
                select(Matter, Department).join(
                    Department, Matter.department_code == Department.code
                )
            ).all()
            return {matter.code: self._route(matter, department) for matter, department in rows}

    def _route(self, matter: Matter, department: Department) -> Route:
        return Route(
            matter=matter.code,
            matter_name=matter.name,
            department=department.code,
            department_name=department.name,
            numbers=tuple(matter.numbers or department.numbers),
            hours=schedule_of(department, self.timezone),
            script=matter.script,
        )

    # --- reading and editing (the admin API) ------------------------------------------------

    def departments(self) -> list[dict[str, object]]:
        with self.sessions() as session:
            rows = session.execute(select(Department).order_by(Department.code)).scalars()
            return [_department(row) for row in rows]

    def matters(self, search: str = "") -> list[dict[str, object]]:
        """Matters whose code, name or department matches ``search`` (all without one)."""
        with self.sessions() as session:
            query = select(Matter, Department).join(
                Department, Matter.department_code == Department.code
            )
            if search.strip():
                like = f"%{search.strip()}%"
                query = query.where(
                    or_(Matter.code.like(like), Matter.name.like(like), Department.name.like(like))
                )
            rows = session.execute(query.order_by(Matter.code)).all()
            return [_matter(matter, department) for matter, department in rows]

    def put_department(
        self, code: str, name: str, numbers: list[str], days: str, periods: list[str]
    ) -> dict[str, object]:
        """Add or change a department."""
        check_hours(days, periods)
        if not numbers:
            raise PlanError("a department needs at least one number to dial")
        with self.sessions.begin() as session:
            row = session.get(Department, code) or Department(code=code)
            row.name, row.numbers, row.days = name, list(numbers), days
            row.periods = ",".join(periods)
            session.add(row)
            session.flush()
            return _department(row)

    def put_matter(
        self, code: str, name: str, department: str, numbers: list[str], script: str
    ) -> dict[str, object]:
        """Add or change a matter."""
        with self.sessions.begin() as session:
            owner = session.get(Department, department)
            if owner is None:
                raise PlanError(f"unknown department '{department}'")
            row = session.get(Matter, code) or Matter(code=code)
            row.name, row.department_code = name, department
            row.numbers, row.script = list(numbers), script
            session.add(row)
            session.flush()
            return _matter(row, owner)

    def remove_matter(self, code: str) -> bool:
        with self.sessions.begin() as session:
            row = session.get(Matter, code)
            if row is None:
                return False
            session.delete(row)
            return True

    def remove_department(self, code: str) -> bool:
        with self.sessions.begin() as session:
            row = session.get(Department, code)
            if row is None:
                return False
            used = session.execute(select(Matter.code).where(Matter.department_code == code))
            if used.first() is not None:
                raise PlanError(f"department '{code}' still has matters; move or remove them")
            session.delete(row)
            return True


def _department(row: Department) -> dict[str, object]:
    return {
        "code": row.code,
        "name": row.name,
        "numbers": list(row.numbers),
        "days": row.days,
        "periods": row.periods.split(","),
    }


def _matter(row: Matter, department: Department) -> dict[str, object]:
    return {
        "code": row.code,
        "name": row.name,
        "department": department.code,
        "department_name": department.name,
        "numbers": list(row.numbers or []),
        "script": row.script,
    }
