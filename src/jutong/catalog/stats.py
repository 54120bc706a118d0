"""Catalog statistics (目录统计), in the shape of the audit report (seed 003):

“全市已梳理资源目录 3974 条，发布 3750 条，其中无条件共享 1257、有条件共享 1964、不共享 529；
21 个部门上报数为 0”.

- 梳理 (catalogued): every resource that is not withdrawn, drafts and submitted ones included.
- 发布 (published): resources with a live published version, i.e. a row in the search projection
  ``CatalogEntry``. Share type, open type, update cycle and 类 of a published resource are those of its
  latest *published* version (an edit waiting for review does not change the statistics).
- Departments with no catalogued resource at all are listed by name (上报数为 0).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from jutong.catalog.models import (
    CatalogEntry,
    ClassCategory,
    OpenType,
    Resource,
    ResourceStatus,
    ShareType,
    UpdateCycle,
)
from jutong.core.labels import LabeledEnum
from jutong.core.numbers import percent
from jutong.registry.models import Department


@dataclass(frozen=True)
class Count:
    """One value of a coded field among the published entries."""

    code: str
    label: str
    count: int
    percent: float  # of the published entries, one decimal, half up


@dataclass(frozen=True)
class DepartmentStats:
    department_id: int
    department_code: str
    department_name: str
    catalogued: int  # 梳理：not withdrawn, any state
    published: int  # 发布
    unconditional: int
    conditional: int
    none: int
    open: int  # published and open to the public (无条件开放 + 有条件开放)
    rank: int | None  # by published entries; ties share a rank (1, 2, 2, 4); None when nothing is published

    @property
    def share_counts(self) -> list[int]:
        return [self.unconditional, self.conditional, self.none]


@dataclass(frozen=True)
class ZeroDepartment:
    department_id: int
    department_code: str
    department_name: str


@dataclass(frozen=True)
class CatalogStats:
    catalogued: int
    published: int
    by_status: list[Count]  # catalogued resources by workflow state (percent of catalogued)
    by_share_type: list[Count]
    by_open_type: list[Count]
    by_update_cycle: list[Count]
    by_category: list[Count]  # 类: 基础 / 主题 / 部门
    departments: list[DepartmentStats]  # every department with at least one catalogued resource, by code
    zero_departments: list[ZeroDepartment]  # departments with no catalogued resource at all
    department_count: int  # all departments of the platform

    @property
    def ranking(self) -> list[DepartmentStats]:
        """Departments by published entries, most first (then most catalogued, then code)."""
        return sorted(self.departments, key=lambda d: (-d.published, -d.catalogued, d.department_code))

    def share(self, share_type: ShareType) -> Count:
        return next(c for c in self.by_share_type if c.code == share_type.value)

    def summary(self) -> str:
        """The report's sentence (全市已梳理资源目录 … 条，发布 … 条，其中 …)."""
        shares = "、".join(f"{c.label} {c.count}" for c in self.by_share_type)
        text = f"全市已梳理资源目录 {self.catalogued} 条，发布 {self.published} 条，其中{shares}"
        return text + f"；{len(self.zero_departments)} 个部门上报数为 0"


def _counts(enum: type[LabeledEnum], counts: dict[str, int], total: int) -> list[Count]:
    """Every value of ``enum`` in its order, zero counts included; unknown stored codes are appended."""
    out = [
        Count(m.value, m.label, counts.get(m.value, 0), percent(counts.get(m.value, 0), total)) for m in enum
    ]
    known = {m.value for m in enum}
    out += [
        Count(code, code, n, percent(n, total)) for code, n in sorted(counts.items()) if code not in known
    ]
    return out


def _grouped(session: Session, column: InstrumentedAttribute[str]) -> dict[str, int]:
    stmt = select(column, func.count()).group_by(column)
    return {str(code): int(n) for code, n in session.execute(stmt).all()}


def _ranks(published: dict[int, int]) -> dict[int, int]:
    """Competition ranking of departments that published something: equal counts share a rank."""
    ordered = sorted((n for n in published.values() if n > 0), reverse=True)
    first_position: dict[int, int] = {}
    for position, n in enumerate(ordered, start=1):
        first_position.setdefault(n, position)
    return {dep: first_position[n] for dep, n in published.items() if n > 0}


def catalog_stats(session: Session) -> CatalogStats:
    """The whole catalog's statistics (every signed-in role may read them)."""
    live = Resource.status != ResourceStatus.withdrawn.value
    status_counts = {
        str(s): int(n)
        for s, n in session.execute(
            select(Resource.status, func.count()).where(live).group_by(Resource.status)
        ).all()
    }
    catalogued = sum(status_counts.values())
    published = int(session.scalar(select(func.count()).select_from(CatalogEntry)) or 0)

    catalogued_by_dep = {
        int(d): int(n)
        for d, n in session.execute(
            select(Resource.department_id, func.count()).where(live).group_by(Resource.department_id)
        ).all()
    }
    share_by_dep: dict[int, dict[str, int]] = {}
    for dep, share_type, n in session.execute(
        select(CatalogEntry.department_id, CatalogEntry.share_type, func.count()).group_by(
            CatalogEntry.department_id, CatalogEntry.share_type
        )
    ).all():
        share_by_dep.setdefault(int(dep), {})[str(share_type)] = int(n)
    open_by_dep = {
        int(d): int(n)
        for d, n in session.execute(
            select(CatalogEntry.department_id, func.count())
            .where(CatalogEntry.open_type != OpenType.closed.value)
            .group_by(CatalogEntry.department_id)
        ).all()
    }
    published_by_dep = {dep: sum(counts.values()) for dep, counts in share_by_dep.items()}
    ranks = _ranks(published_by_dep)

    departments: list[DepartmentStats] = []
    zero: list[ZeroDepartment] = []
    all_departments = session.execute(
        select(Department.id, Department.code, Department.name).order_by(Department.code)
    ).all()
    for dep_id, code, name in all_departments:
        counts = share_by_dep.get(dep_id, {})
        # a published resource is never withdrawn, so published ⊆ catalogued; max() guards odd data
        total = max(catalogued_by_dep.get(dep_id, 0), published_by_dep.get(dep_id, 0))
        if total == 0:
            zero.append(ZeroDepartment(dep_id, code, name))
            continue
        departments.append(
            DepartmentStats(
                department_id=dep_id,
                department_code=code,
                department_name=name,
                catalogued=total,
                published=published_by_dep.get(dep_id, 0),
                unconditional=counts.get(ShareType.unconditional.value, 0),
                conditional=counts.get(ShareType.conditional.value, 0),
                none=counts.get(ShareType.none.value, 0),
                open=open_by_dep.get(dep_id, 0),
                rank=ranks.get(dep_id),
            )
        )

    return CatalogStats(
        catalogued=catalogued,
        published=published,
        by_status=[  # withdrawn resources are not catalogued any more
            c
            for c in _counts(ResourceStatus, status_counts, catalogued)
            if c.code != ResourceStatus.withdrawn
        ],
        by_share_type=_counts(ShareType, _grouped(session, CatalogEntry.share_type), published),
        by_open_type=_counts(OpenType, _grouped(session, CatalogEntry.open_type), published),
        by_update_cycle=_counts(UpdateCycle, _grouped(session, CatalogEntry.update_cycle), published),
        by_category=_counts(ClassCategory, _grouped(session, CatalogEntry.category), published),
        departments=departments,
        zero_departments=zero,
        department_count=len(all_departments),
    )
