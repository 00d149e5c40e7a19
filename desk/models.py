"""What the seats say about their calls, in SQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UtcDateTime


class CallClassification(Base):
    """A seat's account of one call it answered, given at wrap-up: the kind of call, the
    matter, and how it ended (with the knowledge entries used, or the order made)."""

    __tablename__ = "call_classifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    caller_channel: Mapped[str] = mapped_column(String(64), unique=True)
    """The call (its caller channel, as in ``call_legs``)."""
    seat_id: Mapped[str] = mapped_column(String(16), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    """``consultation``, ``appeal``, ``complaint`` (or report) or ``other``."""
    matter_code: Mapped[str | None] = mapped_column(String(6), index=True)
    resolution: Mapped[str] = mapped_column(String(16))
    """``direct`` (answered by the seat), ``transferred`` or ``order``."""
    knowledge: Mapped[list[str]] = mapped_column(JSON, default=list)
    """The codes of the knowledge entries the seat answered from."""
    order_number: Mapped[str | None] = mapped_column(String(24))
    note: Mapped[str] = mapped_column(Text, default="")
    classified_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    wrap_up_seconds: Mapped[float] = mapped_column(Float)
    """From the call's end to the classification (0 when classified during the call)."""
    late: Mapped[bool] = mapped_column(Boolean)
    """Classified after the queue's wrap-up time was over."""
