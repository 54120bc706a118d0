"""Who is acting: roles, the principal of a request, and the rules every edge checks."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from jutong.core.errors import Forbidden


class Role(StrEnum):
    """平台角色。"""

    operator = "operator"  # 平台管理员
    steward = "steward"  # 部门数据管理员
    auditor = "auditor"  # 审计
    consumer = "consumer"  # 使用部门
    developer = "developer"  # 社会开发者（开放数据）


ROLE_LABELS: dict[Role, str] = {
    Role.operator: "平台管理员",
    Role.steward: "部门数据管理员",
    Role.auditor: "审计人员",
    Role.consumer: "使用部门",
    Role.developer: "开发者",
}


@dataclass(frozen=True)
class Principal:
    """The acting user, however they came in (page session, API key or command line)."""

    user_id: int | None
    username: str
    role: Role
    department_id: int | None
    via: str  # "session" | "api_key" | "cli"
    api_key_id: int | None = None
    ip: str | None = None
    application_id: int | None = None  # an API key issued to a consumer's application

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.role]


CLI_PRINCIPAL = Principal(user_id=None, username="cli", role=Role.operator, department_id=None, via="cli")


def require_role(principal: Principal, *roles: Role, message: str | None = None) -> None:
    if principal.role not in roles:
        allowed = "、".join(ROLE_LABELS[r] for r in roles)
        raise Forbidden(
            message or f"此操作仅限{allowed}，当前角色为{principal.role_label}",
            code="role_forbidden",
            detail={"role": principal.role.value, "allowed": [r.value for r in roles]},
        )


def require_department(principal: Principal, department_id: int, *, what: str = "该对象") -> None:
    """Operators act for every department; stewards only for their own (部门只能管理本部门的数据)."""
    if principal.role == Role.operator:
        return
    if principal.role == Role.steward and principal.department_id == department_id:
        return
    raise Forbidden(
        f"{what}属于其他部门，您只能管理本部门的数据",
        code="department_forbidden",
        detail={"department_id": department_id, "your_department_id": principal.department_id},
    )
