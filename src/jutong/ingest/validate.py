"""校验: one batch of source rows through the load plan's normalizers and rules, all columnar.

``check_batch`` works in four vectorized steps over the whole batch, with no Python per row:

1. normalize every item's source column to text (half-width, trim, the item's normalizers, empty
   to null) and apply the mapping's value map (``replace_strict`` with the original as default, so
   an unmapped value still meets the code set rule);
2. parse the text to the item's type (``N``/``Y`` → ``Decimal(38, scale)``, ``D`` → ``Date`` …);
3. one boolean column per (item, rule) that can fail;
4. split: rows failing nothing are ``good`` (typed, with ``_row``, ``_hash``, ``_op``); the others
   become ``rejects`` with the raw row as JSON and every reason — messages are built only for them.

Rule ids (stable, the quality report counts by them): ``required``, ``type``, ``length``,
``code_set``, ``cn_id`` (layout or check character), ``cn_id_birth`` (the embedded birth date does
not exist), ``uscc`` (layout, check character or the embedded organization code's), ``org_code``,
``region_code`` (shape; membership is ``code_set``), ``mobile``, ``pattern`` (the element's format
like ``n6``, or the mapping's regex, matched in full), ``formula`` (疑似公式注入) and ``op`` (an
unknown value in the ``_op`` / ``操作类型`` column).

Delete rows (``_op`` = D) are checked on key items only; their other columns are null in ``good``.
Key uniqueness across the load is the data plane's business, not a batch's.

``_hash`` is stable across processes, machines and library versions (it is stored and compared with
later loads): each item column gets a 64-bit hash — xxh3-64 (``polars_hash``) of text, and of
decimals and floats written as text at their scale; the splitmix64 finalizer of integers, of dates
as days and of times as microseconds since 1970-01-01, of logic values as 1/0; a fixed constant for
null — then ``mix(n + Σ hashᵢ × kᵢ)`` with wrapping ``UInt64`` arithmetic, ``kᵢ`` an odd constant
per position, read as a signed ``Int64``. (Hashing each column on its own is 3x cheaper than
hashing one joined string, and just as good for change detection.)
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import polars_hash as plh

from jutong.ingest.mapping import DELETE_OPS, UPSERT_OPS, ItemRule, LoadPlan, build_plan
from jutong.standards import vectorized as vz

__all__ = [
    "RULES",
    "BatchStats",
    "CheckedBatch",
    "ItemStats",
    "LoadPlan",
    "build_plan",
    "check_batch",
    "checks_of",
    "compile_plan",
]

RULES: dict[str, str] = {
    "required": "必填",
    "type": "数据类型",
    "length": "长度",
    "code_set": "代码集",
    "cn_id": "公民身份号码校验",
    "cn_id_birth": "身份证号码出生日期",
    "uscc": "统一社会信用代码校验",
    "org_code": "组织机构代码校验",
    "region_code": "行政区划代码",
    "mobile": "手机号码",
    "pattern": "格式",
    "formula": "公式注入",
    "op": "操作类型",
}
SAMPLES = 5
OP_ITEM = "操作类型"

_POLARS_TYPES: dict[str, Callable[[ItemRule], pl.DataType]] = {
    "C": lambda r: pl.String(),
    "M": lambda r: pl.String(),
    "G": lambda r: pl.String(),
    "N": lambda r: pl.Decimal(38, r.scale),
    "Y": lambda r: pl.Decimal(38, r.scale),
    "B": lambda r: pl.Float64(),
    "F": lambda r: pl.Float64(),
    "I": lambda r: pl.Int64(),
    "D": lambda r: pl.Date(),
    "T": lambda r: pl.Datetime("us"),
    "L": lambda r: pl.Boolean(),
}


def polars_type(rule: ItemRule) -> pl.DataType:
    """The type of an item's column in ``CheckedBatch.good``."""
    return _POLARS_TYPES.get(rule.data_type, _POLARS_TYPES["C"])(rule)


# ---------------------------------------------------------------- stats


@dataclass
class ItemStats:
    """One item over the rows checked as upserts: values present, rows failing, by rule, samples."""

    non_null: int = 0
    invalid: int = 0  # rows where this item failed at least one rule
    failed: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[str | None]] = field(default_factory=dict)

    def merge(self, other: ItemStats) -> ItemStats:
        failed = dict(self.failed)
        for rule, count in other.failed.items():
            failed[rule] = failed.get(rule, 0) + count
        samples = {rule: list(values) for rule, values in self.samples.items()}
        for rule, values in other.samples.items():
            kept = samples.setdefault(rule, [])
            kept.extend(v for v in values if v not in kept and len(kept) < SAMPLES)
            del kept[SAMPLES:]
        return ItemStats(self.non_null + other.non_null, self.invalid + other.invalid, failed, samples)


@dataclass
class BatchStats:
    """Counts of one batch, mergeable over a load; ``to_json`` goes to ``Load.stats``."""

    read: int = 0
    good: int = 0
    rejected: int = 0
    deletes: int = 0  # rows marked D (checked on key items only)
    items: dict[str, ItemStats] = field(default_factory=dict)  # by column name

    @property
    def checked(self) -> int:
        """Rows checked on every item (upserts)."""
        return self.read - self.deletes

    def merge(self, other: BatchStats) -> BatchStats:
        items = {k: ItemStats().merge(v) for k, v in self.items.items()}
        for column, stats in other.items.items():
            items[column] = items[column].merge(stats) if column in items else ItemStats().merge(stats)
        return BatchStats(
            self.read + other.read,
            self.good + other.good,
            self.rejected + other.rejected,
            self.deletes + other.deletes,
            items,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "good": self.good,
            "rejected": self.rejected,
            "deletes": self.deletes,
            "items": {
                column: {
                    "non_null": s.non_null,
                    "invalid": s.invalid,
                    "failed": s.failed,
                    "samples": s.samples,
                }
                for column, s in self.items.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BatchStats:
        items = {
            column: ItemStats(
                int(s.get("non_null", 0)),
                int(s.get("invalid", 0)),
                {str(k): int(v) for k, v in (s.get("failed") or {}).items()},
                {str(k): list(v) for k, v in (s.get("samples") or {}).items()},
            )
            for column, s in (data.get("items") or {}).items()
        }
        return cls(
            int(data.get("read", 0)),
            int(data.get("good", 0)),
            int(data.get("rejected", 0)),
            int(data.get("deletes", 0)),
            items,
        )


@dataclass
class CheckedBatch:
    good: pl.DataFrame  # item columns typed + "_row" Int64, "_hash" Int64, "_op" String (U / D)
    rejects: pl.DataFrame  # "_row" Int64, "raw" String (JSON object), "reasons" String (JSON list)
    stats: BatchStats


# ---------------------------------------------------------------- step 1: normalize


def _text_date(e: pl.Expr, rule: ItemRule, *, with_time: bool) -> pl.Expr:
    """A date (time) in a text item written one standard way; text that is no date stays as it is."""
    compact = "YYYYMMDD" in rule.format.upper()
    if with_time:
        parsed = vz.parse_datetime_expr(e).dt.to_string("%Y%m%d%H%M%S" if compact else "%Y-%m-%d %H:%M:%S")
    else:
        parsed = vz.parse_date_expr(e).dt.to_string("%Y%m%d" if compact else "%Y-%m-%d")
    return pl.coalesce(parsed, e)


def _text_dates(e: pl.Expr, rule: ItemRule, *, with_time: bool) -> pl.Expr:
    return vz.bind(e, lambda v: _text_date(v, rule, with_time=with_time))


def _normalizer(name: str, e: pl.Expr, rule: ItemRule) -> pl.Expr:
    if name == "trim":
        return vz.trim(e)
    if name == "halfwidth":
        return vz.halfwidth(e)
    if name == "squeeze":
        return vz.squeeze(e)
    if name in ("upper", "upper_x"):
        return vz.upper_x(e)
    if name == "lower":
        return e.str.to_lowercase()
    if name == "cn_id15":
        return vz.upgrade_cn_id_15(e)
    if name == "mobile":
        return vz.mobile_digits(e)
    if name == "number":
        return e.str.replace_all(r"[,\s]", "")
    if name in ("date", "datetime"):
        # a D / T item is parsed in step 2 anyway; a text item gets its dates written one way
        return e if not rule.is_text else _text_dates(e, rule, with_time=name == "datetime")
    raise ValueError(f"unknown normalizer {name}")  # build_plan refuses unknown names first


def normalized(rule: ItemRule) -> pl.Expr:
    """Step 1: the item's text after its normalizers and value map (null: no value)."""
    e = pl.col(rule.source_column) if rule.source_column else pl.lit(None, dtype=pl.String)
    for name in rule.normalizers:
        e = _normalizer(name, e, rule)
    e = vz.empty_to_null(e)
    value_map = rule.value_map
    if value_map:
        e = vz.bind(e, lambda v: v.replace_strict(value_map, default=v, return_dtype=pl.String))
    return e


def _op_expr(plan: LoadPlan) -> pl.Expr:
    """``U`` / ``D``, null for an unknown value (rule ``op``)."""
    if plan.op_column is None:
        return pl.lit("U")
    words = {**dict.fromkeys(DELETE_OPS, "D"), **dict.fromkeys(UPSERT_OPS, "U"), "": "U"}
    text = vz.trim(vz.halfwidth(pl.col(plan.op_column))).str.to_uppercase().fill_null("")
    return text.replace_strict(words, default=None, return_dtype=pl.String)


# ---------------------------------------------------------------- step 2: types


def typed(rule: ItemRule, n: pl.Expr) -> pl.Expr:
    """Step 2: the normalized text parsed to the item's type; null where it does not parse."""
    t = rule.data_type
    if t in ("N", "Y"):
        return pl.when(n.str.contains(vz.NUMBER_RE)).then(n).cast(pl.Decimal(38, rule.scale), strict=False)
    if t == "I":
        return n.str.to_integer(strict=False)
    if t in ("B", "F"):
        return n.cast(pl.Float64, strict=False)
    if t == "D":
        return vz.parse_date_expr(n)
    if t == "T":
        return vz.parse_datetime_expr(n)
    if t == "L":
        return vz.parse_bool_expr(n)
    return n


# ---------------------------------------------------------------- step 3: rules


@dataclass
class Check:
    """One rule of one item: its failing mask (over all rows) and its message (built for rejects only)."""

    index: int  # item index in the plan, -1 for the op column
    rule: str
    fails: pl.Expr
    message: pl.Expr


def _says(*parts: str | pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit(p) if isinstance(p, str) else p for p in parts])


def _type_message(rule: ItemRule, n: pl.Expr) -> pl.Expr:
    t = rule.data_type
    if t == "D":
        return _says("“", n, "”不是有效日期，应写作 20190305、2019-03-05、2019/3/5 或 2019年3月5日")
    if t == "T":
        return _says(
            "“", n, "”不是有效的日期时间，应写作 20190305143000、2019-03-05 14:30:00 或 2019-03-05T14:30:00"
        )
    if t == "L":
        return _says("“", n, "”不是逻辑值，应为 是/否、1/0、true/false 或 Y/N")
    if t == "I":
        return _says("“", n, "”不是整数")
    return _says("“", n, "”不是数值")


def _number_length(rule: ItemRule, n: pl.Expr) -> tuple[pl.Expr, pl.Expr] | None:
    """Integer digits beyond ``length - scale`` or decimals beyond ``scale`` (``n..18,4``)."""
    if rule.length is None:
        return None
    whole = n.str.extract(r"^[+-]?0*([0-9]*)", 1).str.len_chars()
    decimals = n.str.extract(r"\.([0-9]*?)0*$", 1).str.len_chars().fill_null(0)
    max_whole = max(rule.length - rule.scale, 0)
    fails = (whole > max_whole) | (decimals > rule.scale)
    message = (
        pl.when(decimals > rule.scale)
        .then(_says("小数 ", decimals.cast(pl.String), f" 位，超过 {rule.scale} 位"))
        .otherwise(_says("整数部分 ", whole.cast(pl.String), f" 位，超过 {max_whole} 位"))
    )
    return fails, message


def validator_parts(rule: ItemRule, n: pl.Expr) -> dict[str, pl.Expr] | None:
    """The parts (layout, birth date, check characters) of the item's validator, each a boolean
    expression over the normalized text ``n``; ``check_batch`` computes them as columns in step 2,
    side by side, so that each rule and message only reads them."""
    if rule.validator == "cn_id":
        return vz.cn_id_checks(n)
    if rule.validator == "uscc":
        return vz.uscc_checks(n)
    if rule.validator == "org_code":
        return vz.org_code_checks(vz.org_code_body(n))
    return None


def _validator_checks(i: int, rule: ItemRule, n: pl.Expr, parts: dict[str, pl.Expr] | None) -> list[Check]:
    name = rule.name
    present = n.is_not_null()

    def part(field_name: str) -> pl.Expr:
        assert parts is not None
        return parts[field_name]

    if rule.validator == "cn_id":
        layout, check = part("layout"), part("check")
        return [
            Check(
                i,
                "cn_id",
                present & ~(layout & check),
                pl.when(~layout)
                .then(
                    _says(
                        name,
                        "“",
                        n,
                        "”应为 18 位：6 位地址码、8 位出生日期、3 位顺序码和 1 位校验码（数字或 X）",
                    )
                )
                .otherwise(_says(name, "校验码错误：应为 ", vz.cn_id_check_char(n.str.slice(0, 17)))),
            ),
            Check(
                i,
                "cn_id_birth",
                present & layout & ~part("birth"),
                _says(name, "中的出生日期 ", n.str.slice(6, 8), " 不存在"),
            ),
        ]
    if rule.validator == "uscc":
        layout, check, org = part("layout"), part("check"), part("org")
        return [
            Check(
                i,
                "uscc",
                present & ~(layout & check & org),
                pl.when(~layout)
                .then(_says(name, "“", n, "”应为 18 位，由数字和大写字母组成（不含 I、O、S、V、Z）"))
                .when(~check & ~org)
                .then(
                    _says(
                        name,
                        "校验码错误：第 18 位应为 ",
                        vz.uscc_expected_check_char(n),
                        "，第 17 位（组织机构代码的校验码）应为 ",
                        vz.uscc_expected_org_char(n),
                    )
                )
                .when(~check)
                .then(_says(name, "校验码错误：应为 ", vz.uscc_expected_check_char(n)))
                .otherwise(
                    _says(name, "中的组织机构代码校验码错误：第 17 位应为 ", vz.uscc_expected_org_char(n))
                ),
            )
        ]
    if rule.validator == "org_code":
        layout = part("layout")
        return [
            Check(
                i,
                "org_code",
                present & ~(layout & part("check")),
                pl.when(~layout)
                .then(_says(name, "“", n, "”应为 8 位数字或大写字母加 1 位校验码（数字或 X）"))
                .otherwise(_says(name, "校验码错误：应为 ", vz.org_code_expected_char(vz.org_code_body(n)))),
            )
        ]
    if rule.validator == "region_code":
        return [
            Check(
                i,
                "region_code",
                ~vz.region_code_valid(n),
                _says(name, "“", n, "”不是有效的行政区划代码：应为 6 位数字，前 2 位为省级代码"),
            )
        ]
    if rule.validator == "mobile":
        return [
            Check(
                i,
                "mobile",
                ~vz.mobile_valid(n),
                _says(name, "“", n, "”不是有效的手机号码：应为 11 位数字，以 13–19 开头"),
            )
        ]
    return []


def checks_of(
    i: int, rule: ItemRule, n: pl.Expr, t: pl.Expr, parts: dict[str, pl.Expr] | None = None
) -> list[Check]:
    """Every rule of one item as (mask, message); ``n`` its normalized text, ``t`` its typed value,
    ``parts`` its validator's parts (``validator_parts``; computed here when not given)."""
    checks: list[Check] = []
    present = n.is_not_null()
    if rule.required or rule.is_key:
        checks.append(Check(i, "required", ~present, pl.lit("主键项为空" if rule.is_key else "必填项为空")))
    if rule.data_type not in ("C", "M", "G"):
        checks.append(Check(i, "type", present & t.is_null(), _type_message(rule, n)))
    if rule.data_type in ("N", "Y"):
        found = _number_length(rule, n)
        if found is not None:
            checks.append(Check(i, "length", t.is_not_null() & found[0], found[1]))
    if not rule.is_text:
        return checks
    if rule.length is not None:
        size = n.str.len_chars()
        checks.append(
            Check(
                i, "length", size > rule.length, _says("长度 ", size.cast(pl.String), f" 超过 {rule.length}")
            )
        )
    if rule.codes is not None:
        set_label = rule.code_set_identifier or ""
        checks.append(
            Check(
                i,
                "code_set",
                present & ~n.is_in(list(rule.codes)),
                _says(rule.name, "“", n, f"”不在 {set_label} 代码集中"),
            )
        )
    if parts is None:
        parts = validator_parts(rule, n)
    checks += _validator_checks(i, rule, n, parts)
    patterns = [
        (p, f"格式 {rule.format}（{label}）") for p, label in [(rule.format_regex, rule.format_label)] if p
    ]
    if rule.pattern:
        patterns.append((f"^(?:{rule.pattern})$", f"格式 {rule.pattern}"))
    if patterns:
        misses = [(~n.str.contains(p), label) for p, label in patterns]
        message: Any = pl.when(misses[0][0]).then(_says("“", n, "”不符合" + misses[0][1]))
        for miss, label in misses[1:]:
            message = message.when(miss).then(_says("“", n, "”不符合" + label))
        checks.append(
            Check(i, "pattern", present & functools.reduce(operator.or_, [m for m, _ in misses]), message)
        )
    if (rule.validator is None and rule.codes is None and rule.format_regex is None) or rule.pattern:
        # free text only: a value of a code set, a validated code or a digits-only format that
        # starts like a formula already fails that rule, and is rejected with its value named
        checks.append(
            Check(
                i,
                "formula",
                vz.formula_injection(n),
                _says("疑似公式注入：以“", n.str.slice(0, 1), "”开头的内容在电子表格中会被当作公式执行"),
            )
        )
    return checks


# ---------------------------------------------------------------- the row hash

_NULL_HASH = 0x6A09E667F3BCC908  # stands for a null value (any fixed odd constant)
_SPLITMIX = (0xBF58476D1CE4E5B9, 0x94D049BB133111EB)
_MASK64 = 2**64 - 1


def _mix(x: pl.Expr) -> pl.Expr:
    """The splitmix64 finalizer on ``UInt64`` (wrapping arithmetic; ``// 2**k`` is a right shift)."""
    x = vz.bind(x, lambda v: (v ^ (v // 2**30)) * pl.lit(_SPLITMIX[0], pl.UInt64))
    x = vz.bind(x, lambda v: (v ^ (v // 2**27)) * pl.lit(_SPLITMIX[1], pl.UInt64))
    return vz.bind(x, lambda v: v ^ (v // 2**31))


def _xxh3(text: pl.Expr) -> pl.Expr:
    """xxh3-64 of text (``polars_hash``)."""
    return plh.NonCryptographicHashingNameSpace(text).xxh3_64()


def _column_hash(rule: ItemRule, e: pl.Expr) -> pl.Expr:
    """One typed column's 64-bit hash: xxh3 of text (decimals and floats as their text at their
    scale), splitmix64 of integers (dates as days, times as microseconds since 1970-01-01)."""
    t = rule.data_type
    if t in ("C", "M", "G"):
        h = _xxh3(e)
    elif t in ("N", "Y", "B", "F"):
        h = _xxh3(e.cast(pl.String))
    elif t == "L":
        h = _mix(e.cast(pl.UInt64))
    else:  # I D T
        h = _mix(e.to_physical().cast(pl.Int64).reinterpret(signed=False))
    return h.fill_null(pl.lit(_NULL_HASH, pl.UInt64))


def _combine(hashes: list[str]) -> pl.Expr:
    """Column hashes (``UInt64`` columns, in item order) to the row hash, as Int64: each times an odd
    constant of its position, summed (wrapping), then mixed."""
    total: pl.Expr = pl.lit(len(hashes), pl.UInt64)
    for position, column in enumerate(hashes):
        weight = (0x9E3779B97F4A7C15 * (2 * position + 1)) & _MASK64
        total = total + pl.col(column) * pl.lit(weight, pl.UInt64)
    return _mix(total).reinterpret(signed=True)


def row_hash(plan: LoadPlan, frame: pl.DataFrame) -> pl.Series:
    """The ``_hash`` of typed rows (item columns named by ``column_name``), as ``check_batch`` gives it."""
    hashes = frame.select(
        _column_hash(rule, pl.col(rule.column)).alias(f"__h{i}") for i, rule in enumerate(plan.items)
    )
    return hashes.select(_combine(hashes.columns).alias("_hash")).to_series()


# ---------------------------------------------------------------- check_batch


def _n(i: int) -> str:
    return f"__n{i}"


def _t(i: int) -> str:
    return f"__t{i}"


def _v(i: int) -> str:
    return f"__v{i}"


def _f(k: int) -> str:
    return f"__f{k}"


@dataclass
class Compiled:
    """A plan's expressions, built once per load and reused for every batch (building and planning
    a few hundred expressions costs tens of milliseconds: per batch, that would add up)."""

    checks: list[Check]
    normalize: list[pl.Expr]  # step 1
    parse: list[pl.Expr]  # step 2
    masks: list[pl.Expr]  # step 3
    bad: pl.Expr
    totals: list[pl.Expr]  # the stats' counts
    good: list[pl.Expr]  # typed columns (deletes keep their key only)
    hashes: list[pl.Expr]
    row_hash: pl.Expr
    rejects: list[pl.Expr]


def compile_plan(plan: LoadPlan) -> Compiled:
    """The expressions of ``check_batch`` for ``plan`` (cached on it)."""
    cached = plan.compiled
    if isinstance(cached, Compiled):
        return cached
    items = plan.items
    parts = {i: validator_parts(rule, pl.col(_n(i))) for i, rule in enumerate(items)}

    def typed_col(i: int) -> str:
        return _n(i) if items[i].is_text else _t(i)

    checks: list[Check] = []
    for i, rule in enumerate(items):
        found = parts[i]
        columns = {name: pl.col(f"{_v(i)}_{name}") for name in found} if found is not None else None
        checks += checks_of(i, rule, pl.col(_n(i)), pl.col(typed_col(i)), columns)
    if plan.op_column is not None:
        checks.append(
            Check(
                -1,
                "op",
                pl.col("__op").is_null(),
                _says(
                    "操作类型“",
                    pl.col(plan.op_column),
                    "”无法识别：删除写 D 或“删除”，新增或修改写 U、I 或留空",
                ),
            )
        )
    is_delete = (pl.col("__op") == "D").fill_null(False)
    masks = []
    for k, check in enumerate(checks):
        fails = check.fails.fill_null(False)
        if plan.op_column is not None and check.index >= 0 and not items[check.index].is_key:
            fails = fails & ~is_delete
        masks.append(fails.alias(_f(k)))
    flags = [pl.col(_f(k)) for k in range(len(checks))]
    good = []
    for i, rule in enumerate(items):
        value = pl.col(typed_col(i)).cast(polars_type(rule))
        if plan.op_column is not None and not rule.is_key:
            value = pl.when(~is_delete).then(value)
        good.append(value.alias(rule.column))
    compiled = Compiled(
        checks=checks,
        normalize=[
            *(normalized(rule).alias(_n(i)) for i, rule in enumerate(items)),
            _op_expr(plan).alias("__op"),
        ],
        parse=[
            *(typed(rule, pl.col(_n(i))).alias(_t(i)) for i, rule in enumerate(items) if not rule.is_text),
            *(
                expr.alias(f"{_v(i)}_{name}")
                for i, found in parts.items()
                if found is not None
                for name, expr in found.items()
            ),
        ],
        masks=masks,
        bad=(pl.any_horizontal(flags) if flags else pl.lit(False)).alias("__bad"),
        totals=_totals(plan, checks),
        good=good,
        hashes=[_column_hash(rule, pl.col(rule.column)).alias(f"__h{i}") for i, rule in enumerate(items)],
        row_hash=_combine([f"__h{i}" for i in range(len(items))]).alias("_hash"),
        rejects=_reject_columns(plan, checks),
    )
    plan.compiled = compiled
    return compiled


def check_batch(df: pl.DataFrame, plan: LoadPlan) -> CheckedBatch:
    """Normalize, type and check one batch (every source column ``pl.String``, plus ``_row``)."""
    if "_row" not in df.columns:
        df = df.with_row_index("_row", offset=1)
    df = df.with_columns(pl.col("_row").cast(pl.Int64))
    wanted = [*plan.source_columns, *plan.source_to_column, *([plan.op_column] if plan.op_column else [])]
    for column in dict.fromkeys(wanted):
        if column not in df.columns:  # a record source may leave a field out of a whole batch
            df = df.with_columns(pl.lit(None, dtype=pl.String).alias(column))
        elif df.schema[column] != pl.String:
            df = df.with_columns(pl.col(column).cast(pl.String))
    compiled = compile_plan(plan)
    frame = df.with_columns(compiled.normalize).with_columns(compiled.parse)
    frame = frame.with_columns(compiled.masks).with_columns(compiled.bad)
    stats = _stats(frame, plan, compiled)
    names = [r.column for r in plan.items]
    good = frame.select(*compiled.good, "_row", "__op", "__bad").filter(~pl.col("__bad"))
    good = good.with_columns(compiled.hashes).select(
        *names, "_row", compiled.row_hash, pl.col("__op").alias("_op")
    )
    rejects = frame.filter(pl.col("__bad")).select(compiled.rejects) if stats.rejected else _no_rejects()
    return CheckedBatch(good=good, rejects=rejects, stats=stats)


def _no_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema={"_row": pl.Int64, "raw": pl.String, "reasons": pl.String})


def _reject_columns(plan: LoadPlan, checks: list[Check]) -> list[pl.Expr]:
    """``_row``, the raw row (source column → value as read) and every reason, as JSON text."""
    reasons = []
    for k, check in enumerate(checks):
        if check.index >= 0:
            rule = plan.items[check.index]
            item, column = rule.name, rule.column
            value = pl.col(rule.source_column) if rule.source_column else pl.lit(None, dtype=pl.String)
        else:
            item, column = OP_ITEM, "_op"
            value = pl.col(plan.op_column or "__op")
        reason = pl.struct(
            item=pl.lit(item),
            column=pl.lit(column),
            value=value.cast(pl.String),
            rule=pl.lit(check.rule),
            message=check.message.cast(pl.String),
        )
        reasons.append(pl.when(pl.col(_f(k))).then(reason.struct.json_encode()))
    # each reason is JSON on its own, joined skipping the rules a row passed (concat_list of
    # structs is slow in polars; this stays linear)
    listed = pl.concat_str(
        [pl.lit("["), pl.concat_str(reasons, separator=",", ignore_nulls=True), pl.lit("]")]
    )
    raw = (
        pl.struct([pl.col(c) for c in plan.source_columns])
        if plan.source_columns
        else pl.struct(pl.lit(None))
    )
    return [pl.col("_row"), raw.struct.json_encode().alias("raw"), listed.alias("reasons")]


def _mask_sample(value: str | None, rule: ItemRule | None) -> str | None:
    """Personal data in a report sample is partly hidden (the reject keeps the full value for the provider)."""
    if value is None or rule is None or not rule.sensitive:
        return value
    if len(value) <= 2:
        return value[:1] + "*"
    keep = max(1, len(value) // 4)
    return value[:keep] + "*" * (len(value) - 2 * keep) + value[-keep:]


def _by_item(checks: list[Check]) -> dict[int, list[int]]:
    by_item: dict[int, list[int]] = {}
    for k, check in enumerate(checks):
        by_item.setdefault(check.index, []).append(k)
    return by_item


def _totals(plan: LoadPlan, checks: list[Check]) -> list[pl.Expr]:
    upsert = (pl.col("__op") != "D").fill_null(True)  # an unknown operation is checked as an upsert
    exprs: list[pl.Expr] = [
        pl.len().alias("read"),
        pl.col("__bad").sum().alias("rejected"),
        (pl.col("__op") == "D").sum().alias("deletes"),
    ]
    exprs += [pl.col(_f(k)).sum().alias(_f(k)) for k in range(len(checks))]
    exprs += [pl.col(_n(i)).filter(upsert).count().alias(f"nn{i}") for i in range(len(plan.items))]
    exprs += [
        pl.any_horizontal([pl.col(_f(k)) for k in ks]).sum().alias(f"bad{i}")
        for i, ks in _by_item(checks).items()
    ]
    return exprs


def _stats(frame: pl.DataFrame, plan: LoadPlan, compiled: Compiled) -> BatchStats:
    items, checks = plan.items, compiled.checks
    by_item = _by_item(checks)
    totals = frame.select(compiled.totals).row(0, named=True)
    result = BatchStats(
        read=int(totals["read"]),
        rejected=int(totals["rejected"]),
        good=int(totals["read"]) - int(totals["rejected"]),
        deletes=int(totals["deletes"]),
    )
    for i, rule in enumerate(items):
        result.items[rule.column] = ItemStats(
            non_null=int(totals[f"nn{i}"]), invalid=int(totals.get(f"bad{i}") or 0)
        )
    if plan.op_column is not None and -1 in by_item:
        result.items["_op"] = ItemStats(non_null=int(totals["read"]), invalid=int(totals.get("bad-1") or 0))
    failing = [(k, c) for k, c in enumerate(checks) if totals[_f(k)]]
    for k, check in failing:
        owner = items[check.index] if check.index >= 0 else None
        column = owner.column if owner else "_op"
        source = (owner.source_column if owner else plan.op_column) or (_n(check.index) if owner else "__op")
        values = frame.select(
            pl.col(source)
            .cast(pl.String)
            .filter(pl.col(_f(k)))
            .drop_nulls()
            .unique(maintain_order=True)
            .head(SAMPLES)
        ).to_series()
        stats = result.items[column]
        stats.failed[check.rule] = stats.failed.get(check.rule, 0) + int(totals[_f(k)])
        stats.samples[check.rule] = [_mask_sample(v, owner) for v in values.to_list()]
    return result
