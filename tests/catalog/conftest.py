"""Catalog fixtures: the national data standards, loaded in the test's own transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.catalog.models import DataElement
from jutong.catalog.standards import load_national_standards


@pytest.fixture
def standards(session: Session) -> dict[str, DataElement]:
    """Loads the shipped classification tree, code sets and data elements; returns the data elements by
    identifier (DE0001 公民身份号码 …). Rolled back with the test like everything else."""
    load_national_standards(session)
    session.commit()
    return {e.identifier: e for e in session.scalars(select(DataElement))}
