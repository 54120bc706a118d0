"""API schemas of the registry (separate from the ORM models)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from jutong.core.auth import Role


class RegionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    level: str
    parent_id: int | None


class DepartmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    credit_code: str | None
    region_id: int


class DepartmentCreate(BaseModel):
    code: str = Field(min_length=1, max_length=32, description="部门编码")
    name: str = Field(min_length=1, max_length=100, description="部门名称")
    region_code: str = Field(description="所属行政区划代码（GB/T 2260）")
    credit_code: str | None = Field(default=None, description="统一社会信用代码（可选，校验位须正确）")


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: Role
    department_id: int | None
    active: bool


class UserCreate(BaseModel):
    username: str = Field(min_length=2, max_length=64)
    password: str = Field(min_length=8, max_length=200)
    role: Role
    display_name: str | None = None
    department_code: str | None = None


class MeOut(BaseModel):
    user_id: int | None
    username: str
    role: Role
    department_id: int | None
    via: str


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    user_id: int | None = Field(default=None, description="为其他用户创建（仅平台管理员）")


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    name: str
    key_id: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyIssued(ApiKeyOut):
    token: str = Field(description="完整密钥，只返回这一次")
