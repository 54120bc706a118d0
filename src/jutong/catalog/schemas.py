"""Schemas of the resource catalog (政务信息资源目录), separate from the ORM models.

``ResourceIn`` / ``DataItemIn`` are what a steward (page, API or Excel import) submits; coded fields
take the English code or the Chinese label (``"有条件共享"`` or ``"conditional"``) and are checked by
``catalog.service.validate_resource``, which answers ``Problem`` rows naming the field in Chinese.
Responses are built from snapshots (``catalog.snapshot``), so the working copy and every published
version have one shape.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator

# ---- problems (shared with the Excel importer) ----------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a resource, for people: which field, what is wrong, how to fix it.

    ``field`` is the attribute (``share_condition``) or, for a data item, ``items.<i>.<attribute>``
    with ``item`` the index into ``ResourceIn.items``; ``label`` names the field in Chinese.
    ``severity`` is ``error`` (blocks saving) or ``warning`` (a recommendation, e.g. name ≤ 50 字).
    """

    field: str
    problem: str
    fix: str
    code: str
    label: str = ""
    item: int | None = None
    severity: str = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ProblemOut(BaseModel):
    field: str
    label: str
    problem: str
    fix: str
    code: str
    item: int | None = None
    severity: str = "error"


# ---- input -------------------------------------------------------------------------------------


class DataItemIn(BaseModel):
    """信息项：绑定一个数据元；数据类型、长度、代码集不填时沿用数据元的定义。"""

    name: str = Field(max_length=100, description="信息项名称")
    column_name: str | None = Field(
        default=None, description="数据列名（小写字母开头，字母数字下划线）；不填则沿用或取数据元标识符小写"
    )
    element_id: int | None = Field(default=None, description="数据元 id（与 element_identifier 二选一）")
    element_identifier: str | None = Field(default=None, description="数据元标识符，如 DE0001")
    data_type: str | None = Field(default=None, description="数据类型 C/N/Y/D/T/L/M/G/B/I/F，不填随数据元")
    length: int | None = Field(default=None, description="长度，不填随数据元")
    code_set_identifier: str | None = Field(default=None, description="代码集标识符，不填随数据元")
    required: bool = Field(default=False, description="是否必填（主键项总是必填）")
    is_key: bool = Field(default=False, description="是否记录主键")
    sensitive: bool | None = Field(default=None, description="是否敏感（个人信息）；不填随数据元")
    security_level: str | None = Field(default=None, description="分级 一般/重要/核心，不填随数据元")
    description: str = Field(default="", description="说明")

    @field_validator("name", "description")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator(
        "column_name", "element_identifier", "data_type", "code_set_identifier", "security_level"
    )
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        return value or None


_CODED = "可填代码或中文名称"


class ResourceIn(BaseModel):
    """编目一个政务信息资源（编制指南核心元数据）。资源代码由平台生成。"""

    code: str | None = Field(
        default=None, description="资源代码；新建时通常不填（按分类自动生成），导入已有目录时可带上"
    )
    classification_code: str = Field(description="资源分类代码（目或细目，至少 6 位），如 101001")
    name: str = Field(description="信息资源名称，建议不超过 50 字")
    department_id: int | None = Field(default=None, description="提供方部门；部门数据管理员不填即本部门")
    summary: str = Field(default="", description="信息资源摘要，建议不超过 256 字")
    format_category: str = Field(
        description=f"格式分类：电子文件/电子表格/数据库/图形图像/流媒体/自描述格式/服务接口（{_CODED}）"
    )
    format_type: str = Field(default="", description="具体格式，如 XLSX、OFD、达梦")
    share_type: str = Field(description=f"共享类型：无条件共享/有条件共享/不予共享（{_CODED}）")
    share_condition: str = Field(
        default="", description="共享条件；不予共享时填法律、行政法规或党中央、国务院政策依据"
    )
    delivery: str = Field(description=f"共享方式：接口/文件/数据库（{_CODED}）")
    open_type: str = Field(
        default="closed", description=f"开放类型：无条件开放/有条件开放/不予开放（{_CODED}）"
    )
    open_condition: str = Field(default="", description="开放条件")
    update_cycle: str = Field(
        description=f"更新周期：实时/每日/每周/每月/每季度/每半年/每年/其他（{_CODED}）"
    )
    publish_date: date | None = Field(default=None, description="发布日期；不填则首次发布时取当天")
    system_id: int | None = Field(default=None, description="关联的政务信息系统（须属于同一部门）")
    system_code: str | None = Field(default=None, description="或按系统编号关联")
    related_codes: list[str] = Field(default_factory=list, description="关联资源代码（须已存在）")
    items: list[DataItemIn] = Field(default_factory=list, description="信息项")

    @field_validator(
        "name", "summary", "share_condition", "open_condition", "format_type", "classification_code"
    )
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("code", "system_code")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return value.strip() or None

    @field_validator("related_codes")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for code in value:
            code = code.strip()
            if code and code not in out:
                out.append(code)
        return out


class ResourcePatch(BaseModel):
    """修改工作副本：只替换提交了的字段；提交了 items 时整体替换信息项。"""

    classification_code: str | None = None
    name: str | None = None
    department_id: int | None = None
    summary: str | None = None
    format_category: str | None = None
    format_type: str | None = None
    share_type: str | None = None
    share_condition: str | None = None
    delivery: str | None = None
    open_type: str | None = None
    open_condition: str | None = None
    update_cycle: str | None = None
    publish_date: date | None = None
    system_id: int | None = None
    system_code: str | None = None
    related_codes: list[str] | None = None
    items: list[DataItemIn] | None = None


class NoteIn(BaseModel):
    note: str = Field(default="", description="发布说明（可选）")


class ReasonIn(BaseModel):
    reason: str = Field(default="", description="理由")


# ---- output ------------------------------------------------------------------------------------


class DataItemOut(BaseModel):
    position: int
    name: str
    column_name: str
    element_identifier: str
    element_name: str
    data_type: str
    data_type_label: str
    length: int | None
    code_set_identifier: str | None
    required: bool
    is_key: bool
    sensitive: bool
    security_level: str
    security_level_label: str
    description: str


class ResourceOut(BaseModel):
    """A resource as the caller may see it: the working copy for those who may read it, otherwise the
    latest published version (``view``)."""

    id: int
    view: str = Field(description="working 工作副本 / published 已发布版本")
    status: str
    status_label: str
    published_version: int | None
    return_reason: str
    reviewed_on: date | None
    created_at: datetime
    updated_at: datetime
    code: str
    classification_code: str
    name: str
    department_id: int
    department_name: str
    provider_code: str
    summary: str
    format_category: str
    format_category_label: str
    format_type: str
    share_type: str
    share_type_label: str
    share_condition: str
    delivery: str
    delivery_label: str
    open_type: str
    open_type_label: str
    open_condition: str
    update_cycle: str
    update_cycle_label: str
    publish_date: date | None
    system_id: int | None
    system_code: str | None
    related_codes: list[str]
    security_level: str
    security_level_label: str
    items: list[DataItemOut]
    problems: list[ProblemOut] = Field(
        default_factory=list, description="工作副本提交审核前须处理的问题（error）和建议（warning）"
    )


class ResourceRowOut(BaseModel):
    id: int
    code: str
    name: str
    department_id: int
    department_name: str
    status: str
    status_label: str
    published_version: int | None
    share_type: str
    share_type_label: str
    return_reason: str
    updated_at: datetime


class ResourcePageOut(BaseModel):
    items: list[ResourceRowOut]
    total: int
    page: int
    per_page: int
    pages: int


class VersionOut(BaseModel):
    version: int
    published_at: datetime
    published_by: str | None
    submitted_by: str | None
    change_note: str


class VersionDetailOut(VersionOut):
    snapshot: dict[str, Any]


class AttributeChangeOut(BaseModel):
    field: str
    label: str
    old: Any
    new: Any
    old_text: str
    new_text: str


class ChangeOut(BaseModel):
    kind: str = Field(description="field 字段 / item_added / item_removed / item_changed")
    field: str
    label: str
    old: Any
    new: Any
    old_text: str
    new_text: str
    attributes: list[AttributeChangeOut]


class DiffOut(BaseModel):
    resource_id: int
    from_version: str
    to_version: str
    changes: list[ChangeOut]


class QueueRowOut(BaseModel):
    id: int
    code: str
    name: str
    department_name: str
    published_version: int | None
    submitted_at: datetime
    changes: int = Field(description="与最新已发布版本相比的变化处数（首次发布为 0）")


class TaskResourceOut(BaseModel):
    id: int
    code: str
    name: str
    last_reviewed: date | None


class DepartmentTaskOut(BaseModel):
    department_id: int
    department_name: str
    total: int
    reviewed: int
    pending: list[TaskResourceOut]


class TasksOut(BaseModel):
    year: int
    deadline: date
    days_left: int
    departments: list[DepartmentTaskOut]
