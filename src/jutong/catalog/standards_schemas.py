"""API shapes of the data standards (数据元、代码集、分类)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from jutong.catalog.models import (
    Classification,
    CodeSet,
    DataElement,
    DataType,
    SecurityLevel,
    StandardSource,
)
from jutong.standards.codes import VALIDATOR_NAMES


class CodeValueIn(BaseModel):
    code: str = Field(description="代码")
    label: str = Field(description="名称")
    parent_code: str | None = Field(None, description="上级代码（可选）")


class CodeValueOut(CodeValueIn):
    model_config = ConfigDict(from_attributes=True)

    position: int
    valid: bool = Field(description="已从标准中废止的代码为 false，保留以便读取旧数据")


class CodeSetOut(BaseModel):
    id: int
    identifier: str = Field(description="标识符，如 GB/T 2261.1-2003")
    name: str
    description: str
    source: str = Field(description="national 国家标准 / local 本地扩展")
    source_label: str
    value_count: int

    @classmethod
    def of(cls, code_set: CodeSet, value_count: int) -> CodeSetOut:
        return cls(
            id=code_set.id,
            identifier=code_set.identifier,
            name=code_set.name,
            description=code_set.description,
            source=code_set.source,
            source_label=StandardSource(code_set.source).label,
            value_count=value_count,
        )


class CodeSetDetail(CodeSetOut):
    values: list[CodeValueOut]


class CodeSetCreate(BaseModel):
    identifier: str = Field(description="代码集标识符，须唯一")
    name: str = Field(description="代码集名称")
    description: str = ""
    values: list[CodeValueIn] = Field(description="代码值，按给出的顺序保存")


class ElementOut(BaseModel):
    id: int
    identifier: str = Field(description="标识符：国家 DE+4 位，本地 LDE+数字")
    name: str = Field(description="中文名称")
    english_name: str
    definition: str = Field(description="说明（定义）")
    data_type: str = Field(description="数据类型：C N Y D T L M G B I F")
    data_type_label: str
    length: int | None
    precision: int | None
    format: str = Field(description="表示格式，如 an18、YYYYMMDD")
    validator: str | None = Field(description="校验规则：cn_id、uscc、org_code、region_code、mobile")
    validator_name: str | None
    code_set: str | None = Field(description="代码集标识符")
    sensitive: bool = Field(description="是否个人信息（敏感）")
    security_level: str = Field(description="general 一般 / important 重要 / core 核心")
    security_level_label: str
    source: str
    source_label: str

    @classmethod
    def of(cls, element: DataElement, code_sets: dict[int, CodeSet]) -> ElementOut:
        code_set = code_sets.get(element.code_set_id) if element.code_set_id else None
        return cls(
            id=element.id,
            identifier=element.identifier,
            name=element.name,
            english_name=element.english_name,
            definition=element.definition,
            data_type=element.data_type,
            data_type_label=DataType(element.data_type).label,
            length=element.length,
            precision=element.precision,
            format=element.format,
            validator=element.validator,
            validator_name=VALIDATOR_NAMES.get(element.validator) if element.validator else None,
            code_set=code_set.identifier if code_set else None,
            sensitive=element.sensitive,
            security_level=element.security_level,
            security_level_label=SecurityLevel(element.security_level).label,
            source=element.source,
            source_label=StandardSource(element.source).label,
        )


class ElementUseOut(BaseModel):
    resource_id: int
    resource_code: str
    resource_name: str
    department: str
    item_name: str


class ElementDetail(ElementOut):
    used_by: list[ElementUseOut] = Field(description="已发布资源中绑定本数据元的信息项")


class ElementCreate(BaseModel):
    identifier: str | None = Field(None, description="LDE 加数字；不填则自动编号")
    name: str
    english_name: str = ""
    definition: str = ""
    data_type: str = Field(description="C N Y D T L M G B I F，或其中文名，如 字符型")
    length: int | None = None
    precision: int | None = None
    format: str = ""
    validator: str | None = None
    code_set: str | None = Field(None, description="代码集标识符")
    sensitive: bool = False
    security_level: str = Field(
        SecurityLevel.general.value, description="general/important/core 或 一般/重要/核心"
    )


class ClassificationOut(BaseModel):
    id: int
    code: str = Field(description="分类码：类(1)+项(2)+目(3)+细目")
    name: str
    level: int = Field(description="1 类 2 项 3 目 4 细目")
    parent_code: str | None
    source: str

    @classmethod
    def of(cls, c: Classification) -> ClassificationOut:
        return cls(
            id=c.id, code=c.code, name=c.name, level=c.level, parent_code=c.parent_code, source=c.source
        )


class ClassificationCreate(BaseModel):
    code: str = Field(description="6 位目码（上级项须存在）或更长的细目码（上级目须存在）")
    name: str
