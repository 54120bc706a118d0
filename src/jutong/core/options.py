"""Operator-set options kept in the database (阈值、期限等), as JSON by key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from jutong.core.db import Base, UTCDateTime, utcnow


class PlatformOption(Base):
    __tablename__ = "platform_option"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


def get_option(session: Session, key: str) -> dict[str, Any] | None:
    row = session.get(PlatformOption, key)
    return dict(row.value) if row else None


def put_option(session: Session, key: str, value: dict[str, Any]) -> None:
    row = session.get(PlatformOption, key)
    if row is None:
        session.add(PlatformOption(key=key, value=value))
    else:
        row.value = value
        row.updated_at = utcnow()
    session.flush()
