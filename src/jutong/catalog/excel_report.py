"""The report of a catalog import: every problem located as Excel shows it, or what was written.

Problems across rows and sheets have stable codes here (``MESSAGES``); cell problems come from
``catalog.excel_columns`` (``tabular.parse_cell``), layout problems from ``standards.tabular``, and
the catalog rules' problems (``share_basis_required`` …) from ``catalog.service.validate_resource``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from jutong.standards.tabular import LAYOUT_MESSAGES, ImportProblem, ProblemReport

# stable code → (what is wrong, how to fix it); ``{value}`` is the cell, the rest is filled in
MESSAGES: dict[str, tuple[str, str]] = {
    "catalog_csv_unsupported": (
        "目录导入需要“信息资源”“信息项”两张表，CSV 文件只能有一张表（检测到的编码：{encoding}）",
        "请下载 .xlsx 导入模板，把两张表分别填在“信息资源”和“信息项”工作表中后上传",
    ),
    "sheet_missing": (
        "缺少工作表“{value}”",
        "请使用导入模板：工作簿须有“信息资源”和“信息项”两张工作表（工作表名不能改）",
    ),
    "file_no_rows": ("文件中没有数据行", "请在“信息资源”表的表头下方逐行填写资源"),
    "code_duplicate": (
        "信息资源代码“{value}”在第 {first} 行已出现",
        "每个资源只能占一行，请删除重复行或更正代码",
    ),
    "name_duplicate": (
        "新资源名称“{value}”在第 {first} 行已出现",
        "代码留空的新资源靠名称与信息项对应，名称在文件中须唯一，请改名或合并",
    ),
    "department_required": ("没有填写提供方", "请填写“信息资源提供方”（部门名称或编码）或“提供方代码”"),
    "department_unknown": ("平台中没有部门“{value}”", "请填写已有的部门名称或编码，例如：{names}"),
    "provider_code_mismatch": (
        "提供方代码“{value}”不是“{other}”的代码（应为 {expected}）",
        "请更正提供方代码或留空，由平台按提供方填写",
    ),
    "department_forbidden": (
        "您只能导入本部门的资源，这一行的提供方是“{other}”",
        "请删除这一行，或交由该部门的数据管理员导入",
    ),
    "resource_forbidden": (
        "信息资源代码“{value}”是“{other}”的资源，您只能修改本部门的资源",
        "请删除这一行，或改用本部门资源的代码",
    ),
    "item_resource_missing": (
        "没有填写信息项所属的资源",
        "请填写“信息资源代码”，新资源（代码留空）填写“信息资源名称”",
    ),
    "item_resource_unknown": (
        "“信息资源”表中没有{what}“{value}”的资源",
        "信息项只能属于本文件“信息资源”表中的资源：请先在“信息资源”表填写该资源，或更正{what}",
    ),
    "element_unknown": (
        "平台中没有数据元“{value}”",
        "请填写“数据标准”页面中已有的数据元标识符（如 DE0001），或请平台管理员先增加本地数据元",
    ),
    "code_set_unknown": (
        "平台中没有代码集“{value}”",
        "请填写“数据标准”页面中已有的代码集标识符（如 GB/T 2261.1-2003），或留空沿用数据元的代码集",
    ),
    "position_duplicate": (
        "资源“{other}”的序号 {value} 在第 {first} 行已使用",
        "同一资源的信息项序号不能重复，请重新编号或留空按行的先后",
    ),
    "save_failed": ("保存资源时出错：{value}", "请按提示修改后重新导入"),
}

DENIED = frozenset({"department_forbidden", "resource_forbidden"})


@dataclass
class CatalogImportReport(ProblemReport):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    items: int = 0
    codes: list[str] = field(default_factory=list)  # codes of the resources created or changed
    warnings: list[ImportProblem] = field(default_factory=list)  # recommendations; they do not block

    messages: ClassVar[dict[str, tuple[str, str]]] = {**LAYOUT_MESSAGES, **MESSAGES}

    @property
    def denied(self) -> bool:
        return any(p.code in DENIED for p in self.errors)

    @property
    def message(self) -> str:
        if self.ok:
            return (
                f"导入成功：新建 {self.created} 个资源（草稿），更新 {self.updated} 个，"
                f"未变化 {self.unchanged} 个；共 {self.items} 个信息项"
            )
        return (
            f"导入失败：文件中有 {self.error_count} 处错误{self.shown_note}，未导入任何数据。"
            "请按报告逐项修改后重新上传。"
        )

    def summary(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "items": self.items,
            "codes": self.codes,
            "warnings": [w.as_dict() for w in self.warnings],
            "message": self.message,
        }

    def error_body(self) -> dict[str, Any]:
        """The API's 422 body: the uniform error shape, with the per-cell report in ``detail``."""
        return {
            "code": "catalog_import_invalid",
            "message": self.message,
            "detail": {
                "filename": self.filename,
                "error_count": self.error_count,
                "errors": self.problem_dicts(),
            },
        }
