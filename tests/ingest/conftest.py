"""Ingest fixtures: published resources to load into, built through the real catalog workflow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session

from jutong.catalog import service, workflow
from jutong.catalog.models import DataElement, Resource
from jutong.catalog.schemas import ResourceIn
from tests.catalog.conftest import standards  # noqa: F401  (the national data elements and code sets)
from tests.conftest import Org

POPULATION_ITEMS: list[dict[str, Any]] = [
    {"name": "公民身份号码", "element_identifier": "DE0001", "column_name": "gmsfhm", "is_key": True},
    {"name": "姓名", "element_identifier": "DE0002", "column_name": "xm", "required": True},
    {"name": "性别代码", "element_identifier": "DE0003", "column_name": "xbdm", "required": True},
    {"name": "民族代码", "element_identifier": "DE0004", "column_name": "mzdm"},
    {"name": "出生日期", "element_identifier": "DE0005", "column_name": "csrq"},
    {"name": "居住地行政区划代码", "element_identifier": "DE0011", "column_name": "jzdxzqh"},
]


def publish(
    session: Session, org: Org, *, steward: Any, name: str, items: list[dict[str, Any]], **fields: Any
) -> Resource:
    data: dict[str, Any] = {
        "classification_code": "101001",
        "name": name,
        "summary": f"{name}，供各部门比对核验",
        "format_category": "数据库",
        "format_type": "达梦",
        "share_type": "无条件共享",
        "delivery": "接口",
        "open_type": "不予开放",
        "update_cycle": "每日",
        "items": [dict(i) for i in items],
    }
    data.update(fields)
    resource = service.save_resource(session, org.principal(steward), ResourceIn.model_validate(data))
    workflow.submit(session, org.principal(steward), resource.id)
    workflow.publish(session, org.principal(org.operator), resource.id)
    session.flush()
    return resource


@dataclass
class Resources:
    population: Resource  # 公安局：常住人口（性别 0/1 → 映射）
    assistance: Resource  # 民政局：低保对象（性别 1/2）


@pytest.fixture
def resources(session: Session, org: Org, standards: dict[str, DataElement]) -> Resources:  # noqa: F811
    population = publish(session, org, steward=org.steward, name="常住人口基础信息", items=POPULATION_ITEMS)
    assistance = publish(
        session,
        org,
        steward=org.civil_steward,
        name="最低生活保障对象信息",
        items=POPULATION_ITEMS[:3],
        classification_code="101001",
    )
    session.commit()
    return Resources(population, assistance)
