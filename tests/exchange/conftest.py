"""Exchange fixtures: 公安局's population resource loaded with 30 people, granted to 民政局 in part.

The grant gives 公民身份号码 (masked as an ID number), 姓名 (masked as a name) and 性别代码 (as stored);
民族代码, 出生日期 and 居住地行政区划代码 are outside it and must never appear in any answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from jutong.catalog.models import Resource
from jutong.core import clock
from jutong.core.auth import Principal
from jutong.sharing import grants
from jutong.sharing.models import Grant
from tests.conftest import Org
from tests.ingest.conftest import Resources, resources, standards  # noqa: F401  (fixtures)
from tests.ingest.test_pipeline import HEADER, load, person_id, write

SURNAMES = "张李王赵刘陈杨黄周吴"
GIVEN = ["伟", "芳", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋"]
GRANTED = ["gmsfhm", "xm", "xbdm"]
NOT_GRANTED = ["mzdm", "csrq", "jzdxzqh"]
PEOPLE = 30


def person(n: int) -> tuple[str, str, str]:
    """(ID number, name, sex code) of person ``n``: deterministic, all valid."""
    return person_id(n), SURNAMES[n % 10] + GIVEN[(n // 10) % 10], "1" if n % 2 else "2"


def people_lines(numbers: range, *, rename: dict[int, str] | None = None) -> list[str]:
    lines = [HEADER]
    for n in numbers:
        pid, name, sex = person(n)
        lines.append(f"{pid},{(rename or {}).get(n, name)},{sex},01,1990-03-07,341002")
    return lines


@dataclass
class Served:
    org: Org
    resource: Resource
    grant: Grant
    consumer: Principal  # 民政局's consumer user
    steward: Principal  # 公安局's steward (the provider)
    tmp_path: Path

    def reload(self, session: Session, lines: list[str], name: str = "更新.csv") -> int:
        done = load(session, self.steward, self.resource, write(self.tmp_path, name, lines))
        assert done.status == "succeeded", done.error_message
        session.commit()
        assert done.data_version is not None
        return done.data_version


def make_grant(session: Session, org: Org, resource: Resource, **overrides: Any) -> Grant:
    today = clock.today()
    fields: dict[str, Any] = {
        "request": None,
        "resource": resource,
        "consumer_department_id": org.civil.id,
        "items": GRANTED,
        "masking": {"gmsfhm": "id_number", "xm": "name"},
        "application_ids": [],
        "purpose": "最低生活保障资格核查",
        "delivery": "api",
        "starts_on": today - timedelta(days=1),
        "expires_on": today + timedelta(days=365),
        "daily_quota": None,
    }
    fields.update(overrides)
    grant = grants.create_grant(session, org.principal(org.operator), **fields)
    session.commit()
    return grant


@pytest.fixture
def served(session: Session, org: Org, resources: Resources, tmp_path: Path) -> Served:  # noqa: F811
    served = Served(
        org,
        resources.population,
        grant=None,  # type: ignore[arg-type]
        consumer=org.principal(org.consumer),
        steward=org.principal(org.steward),
        tmp_path=tmp_path,
    )
    served.reload(session, people_lines(range(1, PEOPLE + 1)), "人口.csv")
    served.grant = make_grant(session, org, resources.population)
    return served


def ref(served: Served) -> str:
    return str(served.resource.id)
