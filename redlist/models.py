"""The enterprise registry and the red list, in SQL."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UtcDateTime


class Enterprise(Base):
    """A registered company, known by its unified social credit code (统一社会信用代码)."""

    __tablename__ = "enterprises"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(60), default="")
    industry: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    phones: Mapped[list[EnterprisePhone]] = relationship(
        back_populates="enterprise", cascade="all, delete-orphan", order_by="EnterprisePhone.number"
    )
    red_list: Mapped[RedListEntry | None] = relationship(
        back_populates="enterprise", cascade="all, delete-orphan", uselist=False
    )


class EnterprisePhone(Base):
    """A registered phone number of an enterprise, normalised (see redlist.numbers)."""

    __tablename__ = "enterprise_phones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str] = mapped_column(String(20), unique=True)

    enterprise: Mapped[Enterprise] = relationship(back_populates="phones")


class RedListEntry(Base):
    """An enterprise on the red list (红名单): its calls are answered first while valid."""

    __tablename__ = "red_list"
    __table_args__ = (UniqueConstraint("enterprise_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    tier: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(String(200), default="")
    valid_from: Mapped[date | None] = mapped_column(Date())
    valid_to: Mapped[date | None] = mapped_column(Date())
    added_by: Mapped[str] = mapped_column(String(80))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime())

    enterprise: Mapped[Enterprise] = relationship(back_populates="red_list")


class RedListAudit(Base):
    """One change to the registry or the red list: who, when, what it was, what it became."""

    __tablename__ = "red_list_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(30))
    uscc: Mapped[str] = mapped_column(String(18), index=True)
    before: Mapped[dict[str, object] | None] = mapped_column(JSON)
    after: Mapped[dict[str, object] | None] = mapped_column(JSON)
