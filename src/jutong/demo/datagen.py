"""Deterministic test data for the demo's registry resources (``jutong demo data``): 测试数据生成.

Every value of row *i* is a pure function of (seed, resource, i): splitmix64 streams evaluated by polars
over whole chunks, so a chunk of 200,000 rows is a handful of vectorized expressions, memory holds one
chunk however many rows are asked for, and the bytes do not depend on the chunk size. Keys are unique by
construction: 公民身份号码 come from a keyed permutation (cycle-walking xorshift-multiply) of person numbers
onto (region, birth date, sequence number); 统一社会信用代码 likewise onto organisation code bodies. The same
person number gives the same person in every resource, so 低保对象 and 参保人员 are people of 常住人口.

A known share of rows is bad in exactly one known way (``BAD_KINDS``), and a few are *fixable*: the
ingest's normalizers must turn them into the clean value, so they are loaded. The manifest lists both by
kind with the row numbers the ingest reports (CSV/TSV/XLSX: line numbers, the header is line 1; NDJSON:
record numbers from 1), so a test can assert ``rejected == bad_total`` and ``read = loaded + rejected``.
Duplicates repeat the key of an earlier clean row; the later row is the bad one.

The change file of an incremental load updates, inserts and deletes keys chosen among the base file's
clean rows, so the counts in its manifest are exactly what the load must report.
"""

from __future__ import annotations

import bisect
import hashlib
import importlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import IO, Any

import polars as pl

from jutong.catalog.standards import DATA_DIR, read_data_csv
from jutong.core.errors import ValidationFailed
from jutong.demo.catalog import ENTERPRISE, LOCAL_ADDRESS, POPULATION, REGISTRY, DemoItem, DemoResource
from jutong.demo.city import CITY, DISTRICTS
from jutong.standards.codes import (
    ID_CHECK_CHARS,
    ID_WEIGHTS,
    ORG_WEIGHTS,
    USCC_CHARSET,
    USCC_WEIGHTS,
    cn_id_check_char,
)

HOUSEHOLD, SUBSISTENCE, INSURANCE = "户籍人口基本信息", "最低生活保障对象信息", "社会保险参保信息"
RESOURCES = (POPULATION, HOUSEHOLD, SUBSISTENCE, ENTERPRISE, INSURANCE)
ALIASES = {
    "population": POPULATION,
    "household": HOUSEHOLD,
    "subsistence": SUBSISTENCE,
    "dibao": SUBSISTENCE,
    "enterprise": ENTERPRISE,
    "insurance": INSURANCE,
}
CHUNK_ROWS = 200_000
XLSX_MAX_ROWS = 1_048_575  # one worksheet: 1,048,576 rows, the first is the header
REFERENCE = datetime(2025, 3, 1)  # fixed, so the same arguments give the same bytes on any day
CHANGED_AT = REFERENCE + timedelta(days=1)  # update times of a change file
DEFAULT_SEED = 5


class SexStyle(StrEnum):
    """How a provider writes 性别代码 (seed 003: 公安 0=男 1=女, 民政 1=男 2=女)."""

    ga = "ga"
    mz = "mz"
    standard = "standard"


class FileFormat(StrEnum):
    csv = "csv"
    tsv = "tsv"
    xlsx = "xlsx"
    ndjson = "ndjson"


class Encoding(StrEnum):
    utf8 = "utf-8"
    utf8_sig = "utf-8-sig"
    gbk = "gbk"
    gb18030 = "gb18030"


class Header(StrEnum):
    name = "name"  # 信息项名称
    column = "column"  # 列名


class DateStyle(StrEnum):
    iso = "iso"  # 2019-03-05
    compact = "compact"  # 20190305
    mixed = "mixed"  # 2019年3月5日 / 20190305 / 2019/3/5 / 2019-3-5, row by row


SEX_CODES = {  # style → (男, 女)
    SexStyle.ga: ("0", "1"),
    SexStyle.mz: ("1", "2"),
    SexStyle.standard: ("1", "2"),
}
PROVIDER_STYLE = {"GA": SexStyle.ga, "MZ": SexStyle.mz}

BAD_KINDS: dict[str, str] = {
    "id_check": "公民身份号码校验码错误",
    "id_birth": "公民身份号码中的出生日期不存在",
    "missing": "必填项（主键）为空",
    "code_set": "代码不在代码集中",
    "duplicate": "主键与前面的行重复",
    "too_long": "超过信息项长度",
    "bad_date": "日期无法识别",
    "formula": "疑似公式注入",
    "uscc_check": "统一社会信用代码校验码错误",
    "mobile": "手机号码格式错误",
    "region": "行政区划代码格式错误",
}
FIXABLE_KINDS: dict[str, str] = {
    "fullwidth": "全角数字或字母",
    "lower_x": "公民身份号码末位小写 x",
    "id15": "15 位老公民身份号码",
    "spaces": "首尾空格",
}
FORMULAS = ("=cmd|' /C calc'!A0", "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0")
BAD_DATES = ("不详", "1990-02-30", "2019年13月5日", "00000000")
BAD_MOBILES = ("1234567890", "12345678901", "10086100861")
BAD_REGIONS = ("990100", "34100", "3410O2")
BAD_BIRTHS = ("0230", "1315", "0431", "0932")  # month and day that no calendar has

# ---- tables -------------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


_SURNAMES = (
    "王72 李72 张68 刘53 陈46 杨34 黄24 赵20 吴20 周19 徐15 孙15 马12 朱12 胡11 郭10 何10 林9 高9 罗9 "
    "郑8 梁8 谢7 宋6 唐6 许6 韩6 汪6 方5 冯5 邓5 曹5 彭5 曾5 程5 肖4 田4 董4 袁4 潘4 于4 蒋4 蔡4 余4 "
    "杜4 叶4 苏3 魏3 吕3 丁3 任3 沈3 姚3 卢3 姜3 崔3 钟3 谭3 陆3 范3 金3 石3 廖3 贾3 夏3 韦3 江3 "
    "白2 邹2 孟2 熊2 秦2 邱2 尹2 薛2 闫2 段2 雷2 侯2 龙2 史2 陶2 黎2 贺2 顾2 毛2 郝2 龚2 邵2 万2 "
    "钱2 严2 武2 戴2 孔2 汤2 储2 查2 覃1 莫1 向1 欧阳1 司马1 诸葛1 上官1"
)
_MALE_CHARS = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆旭宁龙林洋阳峰建国东文志海亮成晨博然睿轩泽一天家嘉宏振德兵春永新利松"
_FEMALE_CHARS = (
    "芳娜敏静丽艳娟霞秀玲桂英萍红燕雪琳婷慧莹洁颖倩欣怡悦佳雨梦晶兰凤梅琴云璐瑶菲丹蕾露月妍诗涵晓思可宁文嘉"
)
_STREETS = _words("新安 朝阳 解放 和平 滨江 湖东 城南 城北 西园 东城 桃园 龙山 昱中 老街 柏山 新潭")
_COMMUNITIES = _words("幸福 阳光 金桥 紫荆 春晖 翠竹 明珠 锦绣 花园 湖滨 文昌 青年 友谊 振兴 长青 华山")
_ROADS = _words(
    "人民路 建设路 解放路 中山路 长江路 黄山路 迎宾大道 文化路 健康路 学府路 新华路 龙井路 滨江路 齐云大道 延安路 湖滨路"
)
_PARKS = _words("示范市经济技术开发区 示范市高新技术产业园 城东工业园 徽州科技园")
_MOBILE_PREFIXES = _words(
    "130 131 132 133 134 135 136 137 138 139 150 151 152 153 155 156 157 158 159 166 "
    "173 175 176 177 178 180 181 182 183 184 185 186 187 188 189 191 193 195 198 199"
)
_BRANDS = _words(
    "恒达 鑫源 华兴 瑞丰 金诚 宏远 永安 新创 博雅 佳和 盛世 天成 汇通 锦程 中盛 润泽 弘毅 祥和 嘉禾 鼎盛 "
    "徽韵 新安 松韵 云谷 绿源 青峰 明远 同创 众联 优品 惠民 安泰 聚力 诚信 凯旋 百川 东方 宏图 昌盛 鸿运"
)
_LICENCE_NOTE = "（依法须经批准的项目，经相关部门批准后方可开展经营活动）"
_INDUSTRIES = (
    ("科技", "技术服务、技术开发、技术咨询、技术交流、技术转让、技术推广；软件开发；计算机系统服务"),
    ("商贸", "日用百货销售；五金产品零售；家用电器销售；服装服饰零售；食品销售（仅销售预包装食品）"),
    ("建筑工程", "建设工程施工；住宅室内装饰装修；建筑材料销售；园林绿化工程施工" + _LICENCE_NOTE),
    ("餐饮管理", "餐饮服务；餐饮管理；食品销售；外卖递送服务" + _LICENCE_NOTE),
    ("物流", "道路货物运输（不含危险货物）；普通货物仓储服务；装卸搬运；国内货物运输代理"),
    ("信息技术", "信息系统集成服务；数据处理和存储支持服务；网络技术服务；信息技术咨询服务"),
    ("农业开发", "茶叶种植；农产品的生产、销售、加工、运输、贮藏及其他相关服务；休闲观光活动"),
    ("文化传媒", "广告设计、代理；广告制作；组织文化艺术交流活动；会议及展览服务"),
    ("医药", "药品零售；医疗器械销售；保健食品（预包装）销售" + _LICENCE_NOTE),
    ("机械制造", "通用设备制造（不含特种设备制造）；机械零件、零部件加工；金属切削加工服务"),
    ("电子", "电子元器件制造；电子产品销售；光电子器件制造"),
    ("旅游开发", "旅游业务；游览景区管理；酒店管理；住宿服务" + _LICENCE_NOTE),
    ("物业管理", "物业管理；停车场服务；家政服务；城市绿化管理"),
    ("环保科技", "环境保护专用设备制造；污水处理及其再生利用；固体废物治理"),
    ("茶业", "茶叶制品生产；茶具销售；初级农产品收购"),
)
_ENTERPRISE_TYPES = (  # 企业类型, the end of the name, weight
    ("有限责任公司（自然人投资或控股）", "有限公司", 50),
    ("有限责任公司（自然人独资）", "有限公司", 20),
    ("有限责任公司（非自然人投资或控股的法人独资）", "有限公司", 8),
    ("股份有限公司（非上市、自然人投资或控股）", "股份有限公司", 5),
    ("有限责任公司（国有独资）", "有限责任公司", 2),
    ("个人独资企业", "经营部", 10),
    ("普通合伙企业", "中心（普通合伙）", 5),
)
_CAPITALS = ("10", "30", "50", "100", "100", "200", "300", "500", "500", "1000", "2000", "5000")
_INSURANCE_TYPES = ("企业职工基本养老保险", "失业保险", "工伤保险")
_INSURANCE_STATES = ("参保缴费", "暂停缴费", "终止参保")
_INSURANCE_STATE_WEIGHTS = ["0"] * 17 + ["1"] * 2 + ["2"]  # indexes of _INSURANCE_STATES
# Where people's ID numbers were issued: the demo city's districts (10 blocks of sequence numbers each, so
# most people are local), other places in the province and a few elsewhere (1 block).
_OTHER_ID_REGIONS = _words(
    "340102 340104 340202 340302 340403 340503 340603 340702 340802 341021 341022 341102 341202 341302 "
    "341502 320102 330106 360102 410102 420102"
)
_BLOCKS_PER_DISTRICT = 10
_SEQ_PER_BLOCK = 100
_BIRTH_FIRST, _BIRTH_LAST = date(1930, 1, 1), date(2023, 12, 31)
_BIRTH_DAYS = (_BIRTH_LAST - _BIRTH_FIRST).days + 1
_SUBSISTENCE_STRIDE = 29  # 低保对象 are every 29th person of 常住人口 (about 3.4 %)
_EMPLOYERS = 50_000  # 参保单位 are the first enterprises of 企业登记信息

_GOLDEN = 0x9E3779B97F4A7C15
ID_WEIGHTS_BIRTH = ID_WEIGHTS[6:]  # GB 11643 weights of digits 7–17: birth date and sequence number


def _weighted(spec: str) -> list[str]:
    out: list[str] = []
    for token in spec.split():
        name = token.rstrip("0123456789")
        out.extend([name] * int(token[len(name) :]))
    return out


# ---- the catalog's view of the resources ---------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One data item of a resource as the generator needs it."""

    name: str  # 信息项名称
    column: str  # 列名
    element: str  # DE… or a local element's name
    data_type: str
    length: int | None
    key: bool
    code_set: str
    validator: str


@dataclass(frozen=True)
class ResourceSpec:
    name: str
    department_code: str
    demo_code: str  # the code the demo catalog gives it on a fresh database
    columns: tuple[Column, ...]

    @property
    def keys(self) -> list[str]:
        return [c.column for c in self.columns if c.key]

    def first(self, *elements: str, key: bool | None = None) -> Column | None:
        for element in elements:
            for c in self.columns:
                if c.element == element and (key is None or c.key == key):
                    return c
        return None


@cache
def _elements() -> dict[str, dict[str, str]]:
    return {row["identifier"]: row for row in read_data_csv(DATA_DIR / "data_elements.csv")}


@cache
def code_values(code_set: str) -> frozenset[str]:
    """The codes of a national code set shipped with the platform (e.g. ``GB 3304-1991``)."""
    manifest = {row["identifier"]: row["file"] for row in read_data_csv(DATA_DIR / "code_sets.csv")}
    return frozenset(row["code"] for row in read_data_csv(DATA_DIR / "code_sets" / manifest[code_set]))


def _column(item: DemoItem) -> Column:
    if item.element == LOCAL_ADDRESS:  # the demo's local element (see demo.catalog._local_elements)
        return Column(item.name, item.column, item.element, "C", 200, item.key, "", "")
    e = _elements()[item.element]
    return Column(
        item.name,
        item.column,
        item.element,
        e["data_type"],
        int(e["length"]) if e["length"] else None,
        item.key,
        e["code_set"],
        e["validator"],
    )


def _items_now(resource: DemoResource) -> tuple[DemoItem, ...]:
    """The items of the latest published version (some resources have a second one)."""
    items = resource.second.get("items")
    return tuple(items) if items else resource.items


@cache
def resource_spec(which: str) -> ResourceSpec:
    """A resource by its name, its demo code (``101001/000001``) or an alias (``population`` …)."""
    counts: dict[str, int] = {}
    codes: dict[str, str] = {}
    for r in REGISTRY:  # registry resources are created first, so their codes are fixed on a fresh database
        counts[r.classification_code] = counts.get(r.classification_code, 0) + 1
        codes[r.name] = f"{r.classification_code}/{counts[r.classification_code]:06d}"
    wanted = ALIASES.get(which.strip().lower(), which.strip())
    name = next((n for n, c in codes.items() if wanted in (n, c)), None)
    if name not in RESOURCES:
        raise ValidationFailed(
            f"不能为“{which}”生成测试数据：可选 {'、'.join(RESOURCES)}（或其示范目录编码、英文别名 "
            f"{'/'.join(ALIASES)}）",
            code="datagen_resource",
        )
    resource = next(r for r in REGISTRY if r.name == name)
    columns = tuple(_column(i) for i in _items_now(resource))
    return ResourceSpec(name, resource.department_code, codes[name], columns)


# ---- options ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataOptions:
    """What to generate; the same options always give the same bytes."""

    resource: str = POPULATION
    rows: int = 1000
    seed: int = DEFAULT_SEED
    style: SexStyle | None = None  # None: the provider's own (公安 ga, 民政 mz, others standard)
    file_format: FileFormat = FileFormat.csv
    encoding: Encoding = Encoding.utf8
    header: Header = Header.name
    dates: DateStyle = DateStyle.iso
    bad_share: float = 0.02
    fixable_share: float = 0.005
    chunk_rows: int = CHUNK_ROWS

    def sex_style(self, spec: ResourceSpec) -> SexStyle:
        return self.style or PROVIDER_STYLE.get(spec.department_code, SexStyle.standard)

    def args(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("chunk_rows")
        return {k: (v.value if isinstance(v, StrEnum) else v) for k, v in out.items()}


def _check_options(options: DataOptions) -> None:
    if options.rows < 0:
        raise ValidationFailed("行数不能为负数", code="datagen_rows")
    for label, share in (("坏行比例", options.bad_share), ("可修正行比例", options.fixable_share)):
        if not 0 <= share <= 1:
            raise ValidationFailed(f"{label}应在 0 到 1 之间，收到 {share}", code="datagen_share")
    if options.bad_share + options.fixable_share > 1:
        raise ValidationFailed("坏行比例与可修正行比例之和不能超过 1", code="datagen_share")
    if options.file_format in (FileFormat.xlsx, FileFormat.ndjson) and options.encoding not in (
        Encoding.utf8,
        Encoding.utf8_sig,
    ):
        raise ValidationFailed(
            f"{options.file_format.value.upper()} 文件固定为 UTF-8 编码；GBK/GB18030 只用于 CSV、TSV",
            code="datagen_encoding",
        )
    if options.chunk_rows < 1:
        raise ValidationFailed("每批行数至少为 1", code="datagen_rows")


# ---- random streams ---------------------------------------------------------------------------------


def _mix(x: pl.Expr) -> pl.Expr:
    """splitmix64's finaliser in wrapping UInt64 arithmetic (``//`` is a logical right shift)."""

    def shifted(bits: int) -> pl.Expr:
        return x // pl.lit(1 << bits, pl.UInt64)

    x = (x ^ shifted(30)) * pl.lit(0xBF58476D1CE4E5B9, pl.UInt64)
    x = (x ^ shifted(27)) * pl.lit(0x94D049BB133111EB, pl.UInt64)
    return x ^ shifted(31)


class _Rand:
    """Counter-based random numbers: ``u(base, salt)`` is uniform over UInt64 for each (seed, salt, base)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def key(self, salt: str) -> int:
        digest = hashlib.blake2b(f"{self.seed}\x1f{salt}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big")

    def u(self, base: pl.Expr, salt: str) -> pl.Expr:
        start = base.cast(pl.UInt64) * pl.lit(_GOLDEN, pl.UInt64) + pl.lit(self.key(salt), pl.UInt64)
        return _mix(start)

    def pick(self, base: pl.Expr, salt: str, n: int) -> pl.Expr:
        """Uniform over ``0..n-1`` (Int64)."""
        return (self.u(base, salt) % n).cast(pl.Int64)

    def permute(self, values: pl.Series, size: int, salt: str) -> pl.Series:
        """A keyed bijection of ``0..size-1`` (Int64 in, Int64 out): xorshift-multiply rounds on the
        smallest power of two that holds ``size``, walking the cycle until the value lands below ``size``."""
        bits = max(2, (size - 1).bit_length())
        if bits > 32:
            raise ValueError("permutation domain too large")
        modulus, shift = 1 << bits, 1 << (bits // 2)
        key = self.key(salt)
        rounds = [((key >> (16 * r)) & 0x7FFFFFFF | 1, (key >> (8 * r + 3)) % modulus) for r in range(3)]

        def once(s: pl.Series) -> pl.Series:
            for mult, add in rounds:
                s = s ^ (s // shift)
                s = (s * mult + add) % modulus
            return s

        out = once(values.cast(pl.Int64))
        while True:
            over = (out >= size).arg_true()
            if over.len() == 0:
                return out
            out = out.scatter(over, once(out.gather(over)))


def _gather(table: list[str] | tuple[str, ...], index: pl.Expr) -> pl.Expr:
    return pl.lit(pl.Series(list(table), dtype=pl.String)).gather(index)


def _digits(value: pl.Expr, width: int) -> pl.Expr:
    return value.cast(pl.String).str.zfill(width)


# ---- people ---------------------------------------------------------------------------------------


@cache
def _id_slots() -> tuple[list[str], list[int], list[int]]:
    """Per slot of the ID number space: region code, block of sequence numbers, weighted digit sum."""
    regions, blocks = [], []
    for code, _ in DISTRICTS:
        regions += [code] * _BLOCKS_PER_DISTRICT
        blocks += list(range(_BLOCKS_PER_DISTRICT))
    regions += _OTHER_ID_REGIONS
    blocks += [0] * len(_OTHER_ID_REGIONS)
    weights = (7, 9, 10, 5, 8, 4)
    sums = [sum(int(c) * w for c, w in zip(r, weights, strict=True)) for r in regions]
    return regions, blocks, sums


@cache
def _residence_districts() -> tuple[tuple[str, str], ...]:
    """Demo districts whose codes are in the shipped GB/T 2260 subset, so 居住地行政区划代码 passes the
    code set (the subset has 341002–341004 but not the demo's 341005/341006)."""
    known = code_values("GB/T 2260")
    return tuple(d for d in DISTRICTS if d[0] in known) or DISTRICTS


def person_space() -> int:
    """How many different people (ID numbers) the generator can make."""
    return len(_id_slots()[0]) * _BIRTH_DAYS * _SEQ_PER_BLOCK


def _date_text(day: pl.Expr, style: DateStyle, choice: pl.Expr) -> pl.Expr:
    if style == DateStyle.iso:
        return day.dt.strftime("%Y-%m-%d")
    if style == DateStyle.compact:
        return day.dt.strftime("%Y%m%d")
    y, m, d = (part.cast(pl.String) for part in (day.dt.year(), day.dt.month(), day.dt.day()))
    return (
        pl.when(choice == 0)
        .then(pl.concat_str(y, pl.lit("年"), m, pl.lit("月"), d, pl.lit("日")))
        .when(choice == 1)
        .then(day.dt.strftime("%Y%m%d"))
        .when(choice == 2)
        .then(pl.concat_str(y, m, d, separator="/"))
        .otherwise(pl.concat_str(y, m, d, separator="-"))
    )


def _days_between(rand: _Rand, base: pl.Expr, salt: str, first: date, last: date) -> pl.Expr:
    span = (last - first).days + 1
    return pl.lit(first) + pl.duration(days=rand.pick(base, salt, span))


def _update_time(rand: _Rand, base: pl.Expr, version: int) -> pl.Expr:
    """数据更新时间: within five years before the reference time, or on the day of the change file."""
    if version == 0:
        moment = pl.lit(REFERENCE) - pl.duration(seconds=rand.pick(base, "gxsj", 5 * 365 * 86400))
    else:
        moment = pl.lit(CHANGED_AT) + pl.duration(seconds=rand.pick(base, f"gxsj{version}", 86400))
    return moment.dt.strftime("%Y-%m-%d %H:%M:%S")


def _name(rand: _Rand, base: pl.Expr, salt: str, male: pl.Expr) -> pl.Expr:
    surnames = _weighted(_SURNAMES)

    def given(n: str) -> pl.Expr:
        return (
            pl.when(male)
            .then(_gather(list(_MALE_CHARS), rand.pick(base, f"{salt}{n}m", len(_MALE_CHARS))))
            .otherwise(_gather(list(_FEMALE_CHARS), rand.pick(base, f"{salt}{n}f", len(_FEMALE_CHARS))))
        )

    two = rand.pick(base, f"{salt}len", 100) < 78
    return pl.concat_str(
        _gather(surnames, rand.pick(base, f"{salt}s", len(surnames))),
        given("1"),
        pl.when(two).then(given("2")).otherwise(pl.lit("")),
    )


def _home_address(rand: _Rand, base: pl.Expr, salt: str, district: pl.Expr, version: int) -> pl.Expr:
    """示范市城关区新安街道幸福社区人民路128号3栋2单元502室; a later version moves to another building."""
    building = rand.pick(base, f"{salt}b", 30)
    if version:
        building = (building + 1 + rand.pick(base, f"{salt}b{version}", 29)) % 30
    return pl.concat_str(
        pl.lit(CITY[1]),
        district,
        _gather(_STREETS, rand.pick(base, f"{salt}st", len(_STREETS))),
        pl.lit("街道"),
        _gather(_COMMUNITIES, rand.pick(base, f"{salt}co", len(_COMMUNITIES))),
        pl.lit("社区"),
        _gather(_ROADS, rand.pick(base, f"{salt}rd", len(_ROADS))),
        (rand.pick(base, f"{salt}no", 398) + 1).cast(pl.String),
        pl.lit("号"),
        (building + 1).cast(pl.String),
        pl.lit("栋"),
        (rand.pick(base, f"{salt}u", 4) + 1).cast(pl.String),
        pl.lit("单元"),
        (rand.pick(base, f"{salt}fl", 18) + 1).cast(pl.String),
        _digits(rand.pick(base, f"{salt}rm", 4) + 1, 2),
        pl.lit("室"),
    )


def _people(rand: _Rand, persons: pl.Series, style: SexStyle, dates: DateStyle, version: int) -> pl.LazyFrame:
    """Everything about the people numbered ``persons``; callers select what their resource needs."""
    regions, blocks, sums = _id_slots()
    j = rand.permute(persons, person_space(), "person-id")
    slot_size = _BIRTH_DAYS * _SEQ_PER_BLOCK
    p = pl.col("p")
    male_code, female_code = SEX_CODES[style]
    residence = _residence_districts()
    pool_of_slot = [next((k for k, d in enumerate(residence) if d[0] == r), -1) for r in regions]
    weights = ID_WEIGHTS_BIRTH
    frame = pl.LazyFrame({"p": persons.cast(pl.Int64), "j": j}).with_columns(
        slot=pl.col("j") // slot_size,
        birth=pl.lit(_BIRTH_FIRST) + pl.duration(days=(pl.col("j") // _SEQ_PER_BLOCK) % _BIRTH_DAYS),
        seq_low=pl.col("j") % _SEQ_PER_BLOCK,
    )
    slot = pl.col("slot")
    frame = frame.with_columns(
        seq=pl.lit(pl.Series(blocks, dtype=pl.Int64)).gather(slot) * _SEQ_PER_BLOCK + pl.col("seq_low"),
        y=pl.col("birth").dt.year().cast(pl.Int64),
        m=pl.col("birth").dt.month().cast(pl.Int64),
        d=pl.col("birth").dt.day().cast(pl.Int64),
        region=_gather(regions, slot),
        region_sum=pl.lit(pl.Series(sums, dtype=pl.Int64)).gather(slot),
        home=pl.lit(pl.Series(pool_of_slot, dtype=pl.Int64)).gather(slot),
    )
    y, m, d, seq = pl.col("y"), pl.col("m"), pl.col("d"), pl.col("seq")
    digits = [y // 1000, (y // 100) % 10, (y // 10) % 10, y % 10, m // 10, m % 10, d // 10, d % 10]
    digits += [seq // 100, (seq // 10) % 10, seq % 10]
    total = pl.col("region_sum") + pl.sum_horizontal([x * w for x, w in zip(digits, weights, strict=True)])
    stay = (pl.col("home") >= 0) & (rand.pick(p, "stay", 100) < 80)
    district = pl.when(stay).then(pl.col("home")).otherwise(rand.pick(p, "district", len(residence)))
    frame = frame.with_columns(
        male=(seq % 2) == 1,  # GB 11643: an odd 17th digit is a man
        id=pl.concat_str(
            pl.col("region"),
            pl.col("birth").dt.strftime("%Y%m%d"),
            _digits(seq, 3),
            _gather(list(ID_CHECK_CHARS), total % 11),
        ),
        district=district,
    )
    male = pl.col("male")
    household = p // 3
    return frame.with_columns(
        sex=pl.when(male).then(pl.lit(male_code)).otherwise(pl.lit(female_code)),
        name=_name(rand, p, "n", male),
        ethnic=_gather(_ethnic_table(), rand.pick(p, "ethnic", len(_ethnic_table()))),
        birth_text=_date_text(pl.col("birth"), dates, rand.pick(p, "csrq-f", 4)),
        res_code=_gather([c for c, _ in residence], pl.col("district")),
        res_address=_home_address(
            rand, p, "r", _gather([n for _, n in residence], pl.col("district")), version
        ),
        mobile=pl.concat_str(
            _gather(_MOBILE_PREFIXES, rand.pick(p, "mobile-p", len(_MOBILE_PREFIXES))),
            _digits(rand.pick(p, "mobile", 10**8), 8),
        ),
        updated=_update_time(rand, p, version),
        # 户籍: households of three, the first is 户主
        hh_address=_home_address(
            rand,
            household,
            "h",
            _gather([n for _, n in residence], rand.pick(household, "h-district", len(residence))),
            version,
        ),
        hh_number=pl.concat_str(
            _gather([c for c, _ in residence], rand.pick(household, "h-district", len(residence))),
            _digits(household % 10**9 + 1, 9),
        ),
        relation=pl.when(p % 3 == 0)
        .then(pl.lit("02"))
        .when(p % 3 == 1)
        .then(pl.lit("10"))
        .when(male)
        .then(pl.lit("20"))
        .otherwise(pl.lit("30")),
    )


@cache
def _ethnic_table() -> list[str]:
    """GB 3304: mostly 01 汉族; every other listed nationality appears, 03 回族 a little more often."""
    others = sorted(c for c in code_values("GB 3304-1991") if c not in ("01", "03", "97", "98"))
    return ["01"] * 940 + ["03"] * 8 + others


# ---- enterprises ------------------------------------------------------------------------------------


def _char_value(column: pl.Expr, position: int, table: dict[str, int]) -> pl.Expr:
    return column.str.slice(position, 1).replace_strict(table, return_dtype=pl.Int64)


_ORG_VALUES = {c: (int(c) if c.isdigit() else ord(c) - 55) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_USCC_VALUES = {c: i for i, c in enumerate(USCC_CHARSET)}


def _enterprises(rand: _Rand, numbers: pl.Series, dates: DateStyle, version: int) -> pl.LazyFrame:
    """Enterprises numbered ``numbers``: even numbers have an old all-digit 组织机构代码 body, odd ones a
    new ``MA`` body (both unique); 登记机关 is the city's or a district's 市场监督管理局."""
    half = (numbers // 2).cast(pl.Int64)
    digits8 = rand.permute(half, 10**8, "org-digits")
    ma6 = rand.permute(half, 31**6, "org-ma")
    e = pl.col("e")
    authorities = [CITY, *DISTRICTS]
    prefixes = ["91" + code for code, _ in authorities]
    prefix_sums = [
        sum(_USCC_VALUES[c] * w for c, w in zip(p, USCC_WEIGHTS[:8], strict=True)) for p in prefixes
    ]
    ma_body = pl.concat_str(
        pl.lit("MA"),
        *[_gather(list(USCC_CHARSET), (pl.col("ma") // 31**k) % 31) for k in range(5, -1, -1)],
    )
    frame = pl.LazyFrame({"e": numbers.cast(pl.Int64), "d8": digits8, "ma": ma6}).with_columns(
        body=pl.when(e % 2 == 0).then(_digits(pl.col("d8"), 8)).otherwise(ma_body),
        authority=pl.when(rand.pick(e, "auth", 10) < 4)
        .then(pl.lit(0, pl.Int64))
        .otherwise(rand.pick(e, "auth-d", len(DISTRICTS)) + 1),
        type_index=_gather(
            [str(i) for i, t in enumerate(_ENTERPRISE_TYPES) for _ in range(t[2])],
            rand.pick(e, "type", sum(t[2] for t in _ENTERPRISE_TYPES)),
        ).cast(pl.Int64),
        industry=rand.pick(e, "industry", len(_INDUSTRIES)),
    )
    body = pl.col("body")
    org_total = pl.sum_horizontal([_char_value(body, i, _ORG_VALUES) * w for i, w in enumerate(ORG_WEIGHTS)])
    remainder = 11 - org_total % 11
    frame = frame.with_columns(
        org_check=pl.when(remainder == 10)
        .then(pl.lit("X"))
        .when(remainder == 11)
        .then(pl.lit("0"))
        .otherwise(remainder.cast(pl.String))
    )
    body9 = pl.concat_str(body, pl.col("org_check"))
    authority = pl.col("authority")
    uscc_total = pl.lit(pl.Series(prefix_sums, dtype=pl.Int64)).gather(authority) + pl.sum_horizontal(
        [_char_value(body9, i, _USCC_VALUES) * USCC_WEIGHTS[8 + i] for i in range(9)]
    )
    frame = frame.with_columns(
        uscc=pl.concat_str(
            _gather(prefixes, authority),
            body9,
            _gather(list(USCC_CHARSET), (31 - uscc_total % 31) % 31),
        )
    )
    type_index, industry = pl.col("type_index"), pl.col("industry")
    capital = pl.concat_str(
        ((rand.pick(e, "cap-v", 500_000) // 100) + 1).cast(pl.String),
        pl.lit("."),
        _digits(rand.pick(e, "cap-v", 500_000) % 100, 2),
    )
    district_names = [n for _, n in authorities]
    district_names[0] = ""
    building = rand.pick(e, "zs-b", 20)
    if version:
        building = (building + 1 + rand.pick(e, f"zs-b{version}", 19)) % 20
    return frame.with_columns(
        name=pl.concat_str(
            pl.lit(CITY[1]),
            _gather(_BRANDS, rand.pick(e, "brand", len(_BRANDS))),
            _gather([i[0] for i in _INDUSTRIES], industry),
            _gather([t[1] for t in _ENTERPRISE_TYPES], type_index),
        ),
        legal=_name(rand, e, "legal", rand.pick(e, "legal-sex", 100) < 72),
        capital=pl.when(rand.pick(e, "cap", 10) < 6)
        .then(_gather(_CAPITALS, rand.pick(e, "cap-r", len(_CAPITALS))))
        .otherwise(capital),
        founded=_date_text(
            _days_between(rand, e, "clrq", date(1992, 1, 1), date(2025, 2, 28)),
            dates,
            rand.pick(e, "clrq-f", 4),
        ),
        authority_name=pl.concat_str(
            pl.lit(CITY[1]), _gather(district_names, authority), pl.lit("市场监督管理局")
        ),
        scope=_gather([i[1] for i in _INDUSTRIES], industry),
        address=pl.concat_str(
            pl.when(rand.pick(e, "zs-park", 3) == 0)
            .then(_gather(_PARKS, rand.pick(e, "zs-pk", len(_PARKS))))
            .otherwise(
                pl.concat_str(
                    pl.lit(CITY[1]),
                    _gather([n for _, n in DISTRICTS], rand.pick(e, "zs-d", len(DISTRICTS))),
                    _gather(_ROADS, rand.pick(e, "zs-r", len(_ROADS))),
                    (rand.pick(e, "zs-n", 398) + 1).cast(pl.String),
                    pl.lit("号"),
                )
            ),
            (building + 1).cast(pl.String),
            pl.lit("幢"),
            (rand.pick(e, "zs-f", 12) + 1).cast(pl.String),
            _digits(rand.pick(e, "zs-rm", 20) + 1, 2),
            pl.lit("室"),
        ),
        type_name=_gather([t[0] for t in _ENTERPRISE_TYPES], type_index),
    )


# ---- rows of each resource ------------------------------------------------------------------------


def _rows(spec: ResourceSpec, options: DataOptions, index: pl.Series, version: int = 0) -> pl.DataFrame:
    """The clean rows numbered ``index`` (0-based) of the resource: item columns, all strings."""
    rand = _Rand(options.seed)
    style, dates = options.sex_style(spec), options.dates
    index = index.cast(pl.Int64)
    name = spec.name
    if name in (POPULATION, HOUSEHOLD):
        people = _people(rand, index, style, dates, version)
        if name == POPULATION:
            out = people.select(
                gmsfhm="id",
                xm="name",
                xbdm="sex",
                mzdm="ethnic",
                csrq="birth_text",
                jzdz="res_address",
                jzdxzqh="res_code",
                gxsj="updated",
            )
        else:
            out = people.select(
                gmsfhm="id",
                xm="name",
                xbdm="sex",
                mzdm="ethnic",
                csrq="birth_text",
                hjdz="hh_address",
                hh="hh_number",
                yhzgx="relation",
            )
    elif name == SUBSISTENCE:
        people = _people(rand, index * _SUBSISTENCE_STRIDE + 11, style, dates, version)
        out = people.select(
            gmsfhm="id",
            xm="name",
            xbdm="sex",
            csrq="birth_text",
            jzdz="res_address",
            jzdxzqh="res_code",
            lxdh="mobile",
            rdrq=_date_text(
                _days_between(rand, pl.col("p"), "rdrq", date(2012, 1, 1), date(2025, 2, 28)),
                dates,
                rand.pick(pl.col("p"), "rdrq-f", 4),
            ),
            gxsj="updated",
        )
    elif name == ENTERPRISE:
        out = _enterprises(rand, index, dates, version).select(
            tyshxydm="uscc",
            qymc="name",
            fddbrxm="legal",
            zczb="capital",
            clrq="founded",
            djjg="authority_name",
            jyfw="scope",
            zs="address",
            qylx="type_name",
        )
    else:  # 社会保险参保信息: three insurances per person, keyed by (公民身份号码, 险种类型)
        return _insurance(rand, index, style, dates, version)
    return out.collect()


def _insurance(
    rand: _Rand, index: pl.Series, style: SexStyle, dates: DateStyle, version: int
) -> pl.DataFrame:
    persons = index // 3
    people = _people(rand, persons, style, dates, 0).select("id", "name", "birth").collect()
    employers = rand.permute(persons, person_space(), "employer") % _EMPLOYERS  # one employer per person
    firms = _enterprises(rand, employers, dates, 0).select(firm_uscc="uscc", firm="name").collect()
    row = pl.col("i")
    state = _gather(_INSURANCE_STATE_WEIGHTS, rand.pick(row, "cbzt", len(_INSURANCE_STATE_WEIGHTS))).cast(
        pl.Int64
    )
    if version:  # a change file always moves to another state
        state = (state + 1 + rand.pick(row, f"cbzt{version}", len(_INSURANCE_STATES) - 1)) % len(
            _INSURANCE_STATES
        )
    start = pl.max_horizontal(pl.col("birth") + pl.duration(days=16 * 365), pl.lit(date(1995, 1, 1)))
    last = date(2025, 2, 28)
    span = (pl.lit(last) - start).dt.total_days()
    enrolled = (
        pl.when(span > 0)
        .then(start + pl.duration(days=(rand.u(row, "cbrq") % span.clip(1).cast(pl.UInt64)).cast(pl.Int64)))
        .otherwise(pl.lit(last) - pl.duration(days=rand.pick(row, "cbrq-late", 60)))
    )
    return (
        pl.DataFrame({"i": index})
        .hstack(people)
        .hstack(firms)
        .select(
            gmsfhm="id",
            xzlx=_gather(_INSURANCE_TYPES, row % 3),
            xm="name",
            cbzt=_gather(_INSURANCE_STATES, state),
            cbrq=_date_text(enrolled, dates, rand.pick(row, "cbrq-f", 4)),
            dwmc="firm",
            tyshxydm="firm_uscc",
        )
    )


# ---- bad and fixable rows -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Targets:
    """Which column each kind of bad or fixable row changes in this resource."""

    key: str
    keys: tuple[str, ...]
    id: str | None  # 公民身份号码 (the key one)
    uscc: str | None
    codes: tuple[str, ...]  # columns with a code set
    date: str | None
    long_text: str
    formula: str
    mobile: str | None
    region: str | None

    def bad_kinds(self) -> list[str]:
        wanted = {
            "id_check": self.id,
            "id_birth": self.id,
            "missing": self.key,
            "code_set": self.codes,
            "duplicate": self.key,
            "too_long": self.long_text,
            "bad_date": self.date,
            "formula": self.formula,
            "uscc_check": self.uscc,
            "mobile": self.mobile,
            "region": self.region,
        }
        return [kind for kind, column in wanted.items() if column]


@cache
def _targets(spec: ResourceSpec) -> _Targets:
    def col(*elements: str, key: bool | None = None) -> str | None:
        found = spec.first(*elements, key=key)
        return found.column if found else None

    long_text = col("DE0007", "DE0018", LOCAL_ADDRESS, "DE0025", "DE0009") or spec.columns[1].column
    return _Targets(
        key=spec.keys[0],
        keys=tuple(spec.keys),
        id=col("DE0001", key=True),
        uscc=col("DE0008", key=True) or col("DE0008"),
        codes=tuple(c.column for c in spec.columns if c.code_set and c.code_set != "GB/T 2260"),
        date=next((c.column for c in spec.columns if c.data_type == "D"), None),
        long_text=long_text,
        formula=col("DE0002", "DE0025") or long_text,
        mobile=col("DE0006"),
        region=col("DE0011", key=False),
    )


@dataclass
class _Plan:
    """The special rows of a file (0-based, sorted): their kind, and for duplicates the row they repeat."""

    positions: list[int]
    kinds: list[str]  # a BAD_KINDS key or "fixable"
    sources: dict[int, int] = field(default_factory=dict)

    def bad_positions(self) -> set[int]:
        return {p for p, k in zip(self.positions, self.kinds, strict=True) if k != "fixable"}


def _spread(rand: _Rand, count: int, rows: int, salt: str) -> pl.Series:
    """``count`` distinct row numbers spread over ``0..rows-1``: one at random in each of ``count`` equal
    strata, so bad rows are everywhere in the file, never bunched."""
    t = pl.int_range(0, count, eager=True, dtype=pl.Int64)
    frame = pl.DataFrame({"t": t}).with_columns(
        lo=pl.col("t") * rows // count, hi=(pl.col("t") + 1) * rows // count
    )
    width = pl.col("hi") - pl.col("lo")
    return frame.select(
        pl.col("lo") + (rand.u(pl.col("t"), salt) % width.cast(pl.UInt64)).cast(pl.Int64)
    ).to_series()


def _plan(spec: ResourceSpec, options: DataOptions) -> _Plan:
    rows = options.rows
    bad = round(rows * options.bad_share)
    fixable = min(round(rows * options.fixable_share), rows - bad)
    total = bad + fixable
    if total == 0:
        return _Plan([], [])
    rand = _Rand(options.seed)
    kinds = _targets(spec).bad_kinds()
    positions = _spread(rand, total, rows, f"{spec.name}:special")
    # which special row gets which role: a seeded shuffle, then bad kinds in turn and fixable last
    order = (
        pl.DataFrame({"t": pl.int_range(0, total, eager=True)})
        .select(rand.u(pl.col("t"), f"{spec.name}:role").rank("ordinal").cast(pl.Int64) - 1)
        .to_series()
    )
    roles = [kinds[r % len(kinds)] if r < bad else "fixable" for r in order.to_list()]
    plan = _Plan(positions.to_list(), roles)
    taken = set(plan.positions)
    for n, (row, kind) in enumerate(zip(plan.positions, plan.kinds, strict=True)):
        if kind != "duplicate":
            continue
        source = row - 1 - (row * 7919) % 5  # a clean row a little earlier
        while source >= 0 and source in taken:
            source -= 1
        if source < 0:
            plan.kinds[n] = "missing"  # nothing clean before it to repeat
        else:
            plan.sources[row] = source
    return plan


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _bad_value(kind: str, value: str | None, row: int, column: Column) -> str | None:
    """The value a bad row of ``kind`` carries in ``column`` instead of the clean ``value``."""
    v = value or ""
    if kind == "id_check":
        return v[:17] + ID_CHECK_CHARS[(ID_CHECK_CHARS.index(v[17]) + 1 + row % 10) % 11]
    if kind == "id_birth":
        first17 = v[:10] + BAD_BIRTHS[row % len(BAD_BIRTHS)] + v[14:17]
        return first17 + cn_id_check_char(first17)  # a right check character: only the date is wrong
    if kind == "missing":
        return None
    if kind == "code_set":  # 性别 3, 民族 57, 家庭关系 19: the right length, in no code set's list
        allowed = code_values(column.code_set)
        candidates = ("3",) if column.length == 1 else ("57", "19", "96")
        return next(c for c in candidates if c not in allowed)
    if kind == "too_long":
        limit = column.length or 200
        filler = "（该地址为提供部门系统自动拼接的冗余描述，未按信息项长度截断）"
        while len(v) <= limit:
            v += filler
        return v
    if kind == "bad_date":
        return BAD_DATES[row % len(BAD_DATES)]
    if kind == "formula":
        return FORMULAS[row % len(FORMULAS)]
    if kind == "uscc_check":
        return v[:17] + USCC_CHARSET[(USCC_CHARSET.index(v[17]) + 1 + row % 29) % 31]
    if kind == "mobile":
        return BAD_MOBILES[row % len(BAD_MOBILES)]
    if kind == "region":
        return BAD_REGIONS[row % len(BAD_REGIONS)]
    raise ValueError(kind)


def _fixable(targets: _Targets, row: int, clean: dict[str, Any]) -> tuple[str, str, str]:
    """(kind, column, raw value) of a fixable row: written differently, loaded as ``clean``."""
    if targets.id:
        v = clean[targets.id]
        if v.endswith("X"):
            return "lower_x", targets.id, v[:17] + "x"
        kind = ("fullwidth", "id15", "spaces")[row % 3]
        if kind == "id15" and v[6:8] == "19":
            return "id15", targets.id, v[:6] + v[8:17]
        if kind == "spaces":
            return "spaces", targets.id, f" {v}  "
        return "fullwidth", targets.id, _fullwidth(v)
    column = targets.uscc or targets.key
    v = clean[column]
    if row % 2:
        return "spaces", column, f"  {v} "
    return "fullwidth", column, _fullwidth(v)


class _Tally:
    """Bad and fixable rows found so far, for the manifest (0-based rows; numbered when written)."""

    def __init__(self) -> None:
        self.bad: dict[str, list[tuple[int, str, int | None]]] = {k: [] for k in BAD_KINDS}
        self.fixable: dict[str, list[tuple[int, str]]] = {k: [] for k in FIXABLE_KINDS}

    def manifest(self, base: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """Per kind: label, count, row numbers (from ``base``) in file order, the same rows by column and,
        for duplicates, the row each one repeats."""
        bad = {
            kind: _entry(BAD_KINDS[kind], [(r, c) for r, c, _ in found], base)
            for kind, found in self.bad.items()
            if found
        }
        if "duplicate" in bad:
            bad["duplicate"]["first_rows"] = [s + base for _, _, s in self.bad["duplicate"] if s is not None]
        fixable = {
            kind: _entry(FIXABLE_KINDS[kind], found, base) for kind, found in self.fixable.items() if found
        }
        return bad, fixable


def _entry(label: str, found: list[tuple[int, str]], base: int) -> dict[str, Any]:
    by_column: dict[str, list[int]] = {}
    for row, column in found:
        by_column.setdefault(column, []).append(row + base)
    return {"label": label, "count": len(found), "rows": [r + base for r, _ in found], "by_column": by_column}


def _patch(
    frame: pl.DataFrame,
    start: int,
    spec: ResourceSpec,
    options: DataOptions,
    plan: _Plan,
    tally: _Tally,
) -> pl.DataFrame:
    """Write the bad and fixable rows of the chunk that starts at row ``start`` into its clean frame."""
    lo = bisect.bisect_left(plan.positions, start)
    hi = bisect.bisect_left(plan.positions, start + frame.height)
    if lo == hi:
        return frame
    targets = _targets(spec)
    columns = {c.column: c for c in spec.columns}
    offsets = [p - start for p in plan.positions[lo:hi]]
    clean_rows = frame[offsets].to_dicts()
    sources = [
        plan.sources[p]
        for p, k in zip(plan.positions[lo:hi], plan.kinds[lo:hi], strict=True)
        if k == "duplicate"
    ]
    source_rows = iter(_rows(spec, options, pl.Series(sources, dtype=pl.Int64)).to_dicts() if sources else [])
    changes: dict[str, tuple[list[int], list[str | None]]] = {}

    def put(column: str, offset: int, value: str | None) -> None:
        changes.setdefault(column, ([], []))[0].append(offset)
        changes[column][1].append(value)

    for offset, clean, kind in zip(offsets, clean_rows, plan.kinds[lo:hi], strict=True):
        row = start + offset
        if kind == "fixable":
            fix_kind, column, raw = _fixable(targets, row, clean)
            put(column, offset, raw)
            tally.fixable[fix_kind].append((row, column))
            continue
        if kind == "duplicate":
            repeated = next(source_rows)
            for key in targets.keys:
                put(key, offset, repeated[key])
            tally.bad[kind].append((row, targets.key, plan.sources[row]))
            continue
        target = {
            "id_check": targets.id,
            "id_birth": targets.id,
            "missing": targets.key,
            "code_set": targets.codes[row % len(targets.codes)] if targets.codes else None,
            "too_long": targets.long_text,
            "bad_date": targets.date,
            "formula": targets.formula,
            "uscc_check": targets.uscc,
            "mobile": targets.mobile,
            "region": targets.region,
        }[kind]
        assert target is not None
        put(target, offset, _bad_value(kind, clean[target], row, columns[target]))
        tally.bad[kind].append((row, target, None))
    updates = []
    for column, (where, values) in changes.items():
        series = frame[column].clone()
        series.scatter(where, pl.Series(values, dtype=pl.String))
        updates.append(series)
    return frame.with_columns(updates)


# ---- files ------------------------------------------------------------------------------------------


class _Sink:
    """Appends frames of string columns to a CSV/TSV/XLSX/NDJSON file."""

    def __init__(self, path: Path, options: DataOptions, headers: list[str], sheet: str) -> None:
        self.path, self.options, self.headers = path, options, headers
        self.format = options.file_format
        self.first = True
        self.row = 1
        self.handle: IO[bytes] | None = None
        self.book: Any = None
        if self.format == FileFormat.xlsx:
            xlsxwriter = importlib.import_module("xlsxwriter")  # untyped: kept behind Any
            self.book = xlsxwriter.Workbook(
                str(path),
                {
                    "constant_memory": True,
                    "strings_to_numbers": False,
                    "strings_to_formulas": False,  # a formula-injection cell stays text, as a provider's export would
                    "strings_to_urls": False,
                },
            )
            self.book.set_properties({"created": REFERENCE, "title": sheet})
            self.sheet = self.book.add_worksheet(sheet[:31])
            self.sheet.write_row(0, 0, headers)
        else:
            self.handle = path.open("wb")
            if self.format in (FileFormat.csv, FileFormat.tsv) and options.encoding == Encoding.utf8_sig:
                self.handle.write("\ufeff".encode())

    def write(self, frame: pl.DataFrame) -> None:
        frame = frame.rename(dict(zip(frame.columns, self.headers, strict=True)))
        if self.format == FileFormat.xlsx:
            write_row = self.sheet.write_row
            for values in frame.iter_rows():
                write_row(self.row, 0, values)
                self.row += 1
            return
        assert self.handle is not None
        if self.format == FileFormat.ndjson:
            frame.write_ndjson(self.handle)
            return
        separator = "\t" if self.format == FileFormat.tsv else ","
        if self.options.encoding in (Encoding.utf8, Encoding.utf8_sig):
            frame.write_csv(self.handle, separator=separator, include_header=self.first)
        else:
            text = frame.write_csv(separator=separator, include_header=self.first)
            self.handle.write(text.encode(self.options.encoding.value))
        self.first = False

    def close(self) -> None:
        if self.book is not None:
            self.book.close()
        if self.handle is not None:
            self.handle.close()


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def _first_row(options: DataOptions) -> int:
    """The row number the ingest gives the first data row (see the module docstring)."""
    return 1 if options.file_format == FileFormat.ndjson else 2


def _headers(spec: ResourceSpec, options: DataOptions, extra: list[str]) -> list[str]:
    names = [c.name if options.header == Header.name else c.column for c in spec.columns]
    return names + extra


Progress = Callable[[int, int], None]  # rows written, rows in all


def max_rows(spec: ResourceSpec) -> int:
    """How many rows of the resource the generator can make with unique keys."""
    people = person_space()
    return {
        POPULATION: people,
        HOUSEHOLD: people,
        SUBSISTENCE: (people - 12) // _SUBSISTENCE_STRIDE,
        INSURANCE: 3 * people,
        ENTERPRISE: 2 * min(10**8, 31**6),
    }[spec.name]


def _check_size(spec: ResourceSpec, options: DataOptions, rows: int) -> None:
    if options.file_format == FileFormat.xlsx and rows > XLSX_MAX_ROWS:
        raise ValidationFailed(
            f"XLSX 一个工作表最多 {XLSX_MAX_ROWS:,} 行数据，要生成 {rows:,} 行请改用 CSV、TSV 或 NDJSON",
            code="datagen_xlsx_rows",
        )
    if rows > max_rows(spec):
        raise ValidationFailed(
            f"{spec.name}最多可生成 {max_rows(spec):,} 行（键不重复），收到 {rows:,} 行", code="datagen_rows"
        )


def _base_manifest(spec: ResourceSpec, options: DataOptions, path: Path, kind: str) -> dict[str, Any]:
    return {
        "generator": "jutong demo data",
        "kind": kind,
        "resource": {"name": spec.name, "department": spec.department_code, "demo_code": spec.demo_code},
        "seed": options.seed,
        "args": options.args(),
        "sex_style": options.sex_style(spec).value,
        "sex_codes": dict(zip(("男", "女"), SEX_CODES[options.sex_style(spec)], strict=True)),
        "file": {
            "name": path.name,
            "format": options.file_format.value,
            "encoding": "utf-8"
            if options.file_format in (FileFormat.xlsx, FileFormat.ndjson)
            else options.encoding.value,
            "header": options.header.value,
        },
        "columns": [{"name": c.name, "column": c.column, "key": c.key} for c in spec.columns],
        "first_row": _first_row(options),
        "row_numbers": "CSV/TSV/XLSX：表头为第 1 行，数据从第 2 行起；NDJSON：记录序号从 1 起",
    }


def generate(path: Path, options: DataOptions, *, progress: Progress | None = None) -> dict[str, Any]:
    """Write ``options.rows`` rows of the resource to ``path`` and its manifest next to it; returns the
    manifest."""
    _check_options(options)
    spec = resource_spec(options.resource)
    _check_size(spec, options, options.rows)
    tally = _Tally()
    sink = _Sink(path, options, _headers(spec, options, []), spec.name)
    try:
        if options.rows == 0:
            sink.write(pl.DataFrame({c.column: pl.Series([], dtype=pl.String) for c in spec.columns}))
        for stop, frame in _chunks(spec, options, tally):
            sink.write(frame)
            if progress:
                progress(stop, options.rows)
    except BaseException:
        sink.close()
        path.unlink(missing_ok=True)  # no half-written file that looks like a whole one
        raise
    sink.close()
    bad, fixable = tally.manifest(_first_row(options))
    bad_total = sum(b["count"] for b in bad.values())
    manifest = _base_manifest(spec, options, path, "full")
    manifest.update(
        {
            "rows": options.rows,
            "bad": bad,
            "bad_total": bad_total,
            "fixable": fixable,
            "fixable_total": sum(f["count"] for f in fixable.values()),
            "expected": {"read": options.rows, "loaded": options.rows - bad_total, "rejected": bad_total},
            "bytes": path.stat().st_size,
        }
    )
    _write_manifest(path, manifest)
    return manifest


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    manifest_path(path).write_text(_json(manifest) + "\n", encoding="utf-8")


def _json(value: Any, indent: str = "") -> str:
    """JSON with one key per line and lists of numbers or names on one line (row lists are long)."""
    if isinstance(value, dict) and value:
        inner = indent + "  "
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {_json(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        inner = indent + "  "
        return "[\n" + ",\n".join(inner + _json(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value, ensure_ascii=False)


# ---- change files -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeOptions:
    """An incremental load against the base file ``DataOptions(rows=base_rows, …)`` of the same seed."""

    base_rows: int
    change_share: float = 0.01  # share of the base's keys updated
    inserts: int | None = None  # new keys; default: half as many as the updates
    deletes: int | None = None  # deleted keys; default: a tenth as many as the updates

    def counts(self) -> tuple[int, int, int]:
        updates = round(self.base_rows * self.change_share)
        inserts = self.inserts if self.inserts is not None else round(updates / 2)
        deletes = self.deletes if self.deletes is not None else round(updates / 10)
        return updates, inserts, deletes


def _choose_changes(
    spec: ResourceSpec, options: DataOptions, changes: ChangeOptions
) -> tuple[list[int], list[int]]:
    """Updated and deleted rows of the base file: clean rows only (a rejected row's key is not in the
    resource, a duplicate's first row is left alone), spread over the file."""
    base = replace(options, rows=changes.base_rows)
    plan = _plan(spec, base)
    excluded = plan.bad_positions() | set(plan.sources.values())
    updates, _, deletes = changes.counts()
    wanted = updates + deletes
    available = changes.base_rows - len(excluded)
    if wanted > available:
        raise ValidationFailed(
            f"基准文件只有 {available:,} 个可变更的键，不够 {updates:,} 个更新和 {deletes:,} 个删除",
            code="datagen_changes",
        )
    if wanted == 0:
        return [], []
    rand = _Rand(options.seed)
    chosen = _spread(rand, wanted, changes.base_rows, f"{spec.name}:changes").to_list()
    used = set()
    picked = []
    for n, row in enumerate(chosen):  # step past excluded rows (a few per cent) to the next free one
        lo, hi = n * changes.base_rows // wanted, (n + 1) * changes.base_rows // wanted
        candidate = row
        while candidate in excluded or candidate in used:
            candidate = lo + (candidate + 1 - lo) % (hi - lo)
            if candidate == row:  # a stratum with nothing clean: take the next free row anywhere
                candidate = next(r for r in range(changes.base_rows) if r not in excluded and r not in used)
                break
        used.add(candidate)
        picked.append(candidate)
    order = (
        pl.DataFrame({"t": pl.Series(picked, dtype=pl.Int64)})
        .select(rand.u(pl.col("t"), f"{spec.name}:op").rank("ordinal").cast(pl.Int64) - 1)
        .to_series()
    )
    update_rows = sorted(r for r, o in zip(picked, order.to_list(), strict=True) if o < updates)
    delete_rows = sorted(r for r, o in zip(picked, order.to_list(), strict=True) if o >= updates)
    return update_rows, delete_rows


def generate_changes(
    path: Path, options: DataOptions, changes: ChangeOptions, *, progress: Progress | None = None
) -> dict[str, Any]:
    """Write the change file of an incremental load against the base file of ``changes.base_rows`` rows
    (same seed, bad and fixable shares as ``options``): updated rows (a new address or state and update
    time), new rows and deletes (key only, ``_op`` = D). Returns the manifest with the expected counts."""
    options = replace(options, rows=changes.base_rows)  # the manifest's args describe the base file
    _check_options(options)
    spec = resource_spec(options.resource)
    updates, inserts, deletes = changes.counts()
    if min(updates, inserts, deletes) < 0 or not 0 <= changes.change_share <= 1:
        raise ValidationFailed("变更比例应在 0 到 1 之间，新增、删除行数不能为负数", code="datagen_changes")
    total = updates + inserts + deletes
    _check_size(spec, options, total)
    _check_size(spec, replace(options, file_format=FileFormat.csv), changes.base_rows + inserts)
    update_rows, delete_rows = _choose_changes(spec, options, changes)
    op_header = "_op" if options.header == Header.column else "操作类型"
    sink = _Sink(path, options, _headers(spec, options, [op_header]), spec.name)
    columns = [c.column for c in spec.columns]
    # base rows in file order (updates and deletes interleaved), then the new rows
    ops = sorted([(r, "U") for r in update_rows] + [(r, "D") for r in delete_rows])
    ops += [(changes.base_rows + n, "I") for n in range(inserts)]
    first = _first_row(options)
    numbers: dict[str, list[int]] = {"U": [], "I": [], "D": []}
    written = 0
    try:
        if not ops:
            sink.write(pl.DataFrame({name: pl.Series([], dtype=pl.String) for name in [*columns, "_op"]}))
        for start in range(0, len(ops), options.chunk_rows):
            part = ops[start : start + options.chunk_rows]
            frame = _rows(spec, options, pl.Series([r for r, _ in part], dtype=pl.Int64), version=1)
            op = pl.Series("_op", ["D" if o == "D" else "U" for _, o in part], dtype=pl.String)
            frame = frame.with_columns(op).with_columns(  # a delete carries its key only
                pl.when(pl.col("_op") == "D").then(None).otherwise(pl.col(c)).alias(c)
                for c in columns
                if c not in spec.keys
            )
            sink.write(frame)
            for n, (_, o) in enumerate(part):
                numbers[o].append(written + n + first)
            written += len(part)
            if progress:
                progress(written, len(ops))
    except BaseException:
        sink.close()
        path.unlink(missing_ok=True)
        raise
    sink.close()
    manifest = _base_manifest(spec, options, path, "changes")
    manifest.update(
        {
            "base": {
                "rows": changes.base_rows,
                "bad_share": options.bad_share,
                "fixable_share": options.fixable_share,
            },
            "change_share": changes.change_share,
            "op_column": op_header,
            "rows": len(ops),
            "updated_rows": numbers["U"],
            "inserted_rows": numbers["I"],
            "deleted_rows": numbers["D"],
            "expected": {
                "read": len(ops),
                "loaded": len(ops),
                "rejected": 0,
                "inserted": inserts,
                "updated": len(update_rows),
                "deleted": len(delete_rows),
                "unchanged": 0,
            },
            "bytes": path.stat().st_size,
        }
    )
    _write_manifest(path, manifest)
    return manifest


def _chunks(spec: ResourceSpec, options: DataOptions, tally: _Tally) -> Iterator[tuple[int, pl.DataFrame]]:
    """(rows done, frame) per chunk, bad and fixable rows written in; ``tally`` records them."""
    plan = _plan(spec, options)
    for start in range(0, options.rows, options.chunk_rows):
        stop = min(start + options.chunk_rows, options.rows)
        frame = _rows(spec, options, pl.int_range(start, stop, eager=True, dtype=pl.Int64))
        yield stop, _patch(frame, start, spec, options, plan, tally)


def iter_rows(options: DataOptions) -> Iterator[pl.DataFrame]:
    """The rows ``generate`` writes, as frames of item columns (all strings), without a file."""
    _check_options(options)
    spec = resource_spec(options.resource)
    _check_size(spec, replace(options, file_format=FileFormat.csv), options.rows)
    for _, frame in _chunks(spec, options, _Tally()):
        yield frame
