"""Schemas of the ingest API (数据归集), separate from the ORM models.

Coded fields come with their Chinese label (``status`` + ``status_label``). A load's summary carries
the identity every load keeps: ``read = loaded + rejected`` (``identity_holds``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

# ---- loads ---------------------------------------------------------------------------------------


class LoadOut(BaseModel):
    id: int
    resource_id: int
    resource_code: str
    resource_name: str
    department_id: int
    status: str = Field(description="queued 排队中 / running 进行中 / succeeded 成功 / failed 失败")
    status_label: str
    done: bool = Field(description="已结束（成功或失败）；页面据此停止轮询")
    mode: str
    mode_label: str
    source_label: str = Field(description="上传的文件名或数据源名称")
    source_id: int | None
    mapping_id: int | None
    file_format: str
    encoding: str
    catalog_version: int
    data_version: int | None
    read: int
    loaded: int
    rejected: int
    inserted: int
    updated: int
    deleted: int
    unchanged: int
    identity_holds: bool = Field(description="读取 = 入库 + 问题数据")
    quality_score: float | None
    error_code: str | None
    error_message: str | None
    unmapped_columns: list[str] = Field(default_factory=list, description="源文件中未映射、被忽略的列")
    started_at: datetime
    finished_at: datetime | None
    seconds: float | None


class LoadPageOut(BaseModel):
    items: list[LoadOut]
    total: int


class ReasonOut(BaseModel):
    item: str = ""
    column: str = ""
    value: Any = None
    rule: str = ""
    message: str = ""


class RejectOut(BaseModel):
    row_number: int = Field(description="源文件中的行号（CSV 表头为第 1 行）或记录序号")
    raw: dict[str, Any]
    reasons: list[ReasonOut]


class RejectPageOut(BaseModel):
    load_id: int
    items: list[RejectOut]
    total: int
    page: int
    per_page: int
    pages: int


# ---- sources and mappings ------------------------------------------------------------------------


class SourceIn(BaseModel):
    """数据源：file 文件上传；sql 数据库（config: url, query, timeout_seconds）；http 接口
    （config: url, records_path, page_param, size_param, page_size, next_path, headers, timeout_seconds）。"""

    name: str = Field(max_length=100)
    kind: str = Field(description="file / sql / http")
    config: dict[str, Any] = Field(default_factory=dict)
    mapping: str | None = Field(default=None, description="已保存的映射名称")
    mode: str = Field(default="full", description="full 全量 / incremental 增量")
    scheduled: bool = Field(default=False, description="按资源的更新周期定时拉取（数据库、接口）")


class SourceOut(BaseModel):
    id: int
    resource_id: int
    name: str
    kind: str
    kind_label: str
    config: dict[str, Any] = Field(description="配置；口令与请求头的值已隐藏")
    mapping_id: int | None
    mapping_name: str | None
    mode: str
    mode_label: str
    scheduled: bool
    next_run_at: datetime | None
    created_at: datetime
    updated_at: datetime


class MappingIn(BaseModel):
    """映射：源列 → 信息项列名；值映射（如性别 0→1、1→2）；规范化；自定义正则。"""

    name: str = Field(max_length=100)
    description: str = ""
    columns: dict[str, str] = Field(default_factory=dict, description='{"源列名": "column_name"}')
    values: dict[str, dict[str, str]] = Field(
        default_factory=dict, description='{"column_name": {"源值": "标准代码"}}'
    )
    normalizers: dict[str, list[str]] = Field(default_factory=dict)
    patterns: dict[str, str] = Field(default_factory=dict)


class MappingOut(BaseModel):
    id: int
    resource_id: int
    name: str
    description: str
    columns: dict[str, str]
    values: dict[str, dict[str, str]]
    normalizers: dict[str, list[str]]
    patterns: dict[str, str]
    created_at: datetime
    updated_at: datetime


class PullOut(BaseModel):
    source_id: int
    job_id: int | None
    message: str


# ---- quality -------------------------------------------------------------------------------------


class QualityCheckOut(BaseModel):
    load_id: int | None
    dimension: str
    dimension_label: str
    rule: str
    column_name: str
    label: str
    outcome: str = Field(description="pass 通过 / warn 警告 / fail 不通过 / error 出错")
    outcome_label: str
    observed: float | None = Field(description="观测值 0–100（如通过率）")
    threshold: float | None
    failing_count: int
    sample: list[Any] = Field(description="不超过 5 个问题值示例")
    message: str


class ScorePointOut(BaseModel):
    load_id: int
    data_version: int | None
    status: str
    score: float | None
    read: int
    rejected: int
    at: datetime


class RuleCountOut(BaseModel):
    rule: str
    label: str
    failing: int


class QualityOut(BaseModel):
    resource_id: int
    load_id: int | None = Field(description="最近一次成功批次")
    score: float | None
    weights: dict[str, float] = Field(description="质量得分中各维度的权重（%）")
    dimensions: dict[str, float | None] = Field(description="各维度得分 0–100")
    checks: list[QualityCheckOut]
    history: list[ScorePointOut]
    failing_by_rule: list[RuleCountOut]


class LateOut(BaseModel):
    resource_id: int
    code: str
    name: str
    department_id: int
    department_name: str
    update_cycle: str
    update_cycle_label: str
    allowed_days: int
    days_since: int
    last_loaded_at: datetime
    last_load_id: int | None


class NeverLoadedOut(BaseModel):
    resource_id: int
    code: str
    name: str
    department_id: int
    department_name: str
    update_cycle: str
    update_cycle_label: str


class FailingOut(BaseModel):
    resource_id: int
    code: str
    name: str
    department_id: int
    department_name: str
    load_id: int
    status: str
    score: float | None
    reason: str


class QualityOverviewOut(BaseModel):
    today: str
    late: list[LateOut]
    never_loaded: list[NeverLoadedOut]
    failing: list[FailingOut]


class ChangeVersionOut(BaseModel):
    version: int
    load_id: int | None
    mode: str
    loaded_at: datetime | None
    inserted: int
    updated: int
    deleted: int
    baseline: bool = Field(description="首次归集（基线）：全部记录为起点，不写入变更日志")
    logged: int = Field(description="该版本在变更日志中的记录数")
