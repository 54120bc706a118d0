"""Vectorized twins of ``standards.codes`` and ``standards.normalize``: polars expressions for the
ingest hot path (millions of rows, no per-row Python).

Every function takes and returns a ``pl.Expr``; a null stays null (a validator answers null for a
null value, so "no value" is the ``required`` rule's business, not the validator's). Each validator
answers what its scalar twin in ``standards.codes`` answers for the same text (tests run both over
the same generated values).

How they stay fast (about a million rows a second per core for a whole population batch):

- check characters are array arithmetic: an 18-character code is reinterpreted as an array of its
  byte values and multiplied by the weights as a literal array, one pass per value;
- an eager expression is a tree, so a subexpression used twice is computed twice: ``bind`` computes
  a value once as a struct field that the rest reads for free, and the ``*_parts`` functions give
  every part of a check (layout, birth date, check character) in one struct;
- what is rare is looked for once per column (``map_batches`` over the whole column, still
  vectorized): a column with no full-width character skips ``halfwidth``, a column with no 15-digit
  ID number skips the upgrade, and date parsers try the common forms first and the full regex with
  capture groups only on the values the fast forms left.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable
from datetime import date, timedelta

import polars as pl

from jutong.standards.codes import (
    ID_WEIGHTS,
    MOBILE_PATTERN,
    ORG_WEIGHTS,
    PROVINCE_PREFIXES,
    USCC_WEIGHTS,
)
from jutong.standards.normalize import BOOL_FALSE, BOOL_TRUE

FULLWIDTH = [chr(c) for c in range(0xFF01, 0xFF5F)] + ["\u3000"]
HALFWIDTH = [chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)] + [" "]

# 2019年3月5日 / 2019-3-5 / 2019/03/05 / 2019.3.5 (an optional time after it is ignored) or 20190305
_DATE_RE = (
    r"^([0-9]{4})(?:([0-9]{2})([0-9]{2})"
    r"|\s*[-/.年]\s*([0-9]{1,2})\s*[-/.月]\s*([0-9]{1,2})\s*日?(?:\s+[0-9:]+)?)$"
)
_EXCEL_SERIAL_RE = r"^([0-9]{5})(?:\.0+)?$"
_EXCEL_EPOCH = date(1899, 12, 30)

# 20190305143000 / 2019-03-05 14:30[:00[.123456]] / 2019-03-05T14:30:00+08:00 / a date alone (midnight)
_DATETIME_RE = (
    r"^([0-9]{4})(?:([0-9]{2})([0-9]{2})(?:([0-9]{2})([0-9]{2})([0-9]{2}))?"
    r"|\s*[-/.年]\s*([0-9]{1,2})\s*[-/.月]\s*([0-9]{1,2})\s*日?"
    r"(?:(?:\s+|T)([0-9]{1,2})\s*[:时]\s*([0-9]{1,2})"  # hours, minutes: 14:30 or 14时30分
    r"(?:\s*:\s*([0-9]{1,2})|\s*分(?:\s*([0-9]{1,2})\s*秒)?)?(?:\.([0-9]{1,9}))?)?)"
    r"\s*(Z|[+-][0-9]{2}:?[0-9]{2})?$"
)
LOCAL_UTC_OFFSET_MINUTES = 8 * 60  # times with an offset are stored as Beijing time (UTC+8), naive

_ID_RE = r"^[1-9][0-9]{5}(?:18|19|20)[0-9]{2}[0-9]{4}[0-9]{3}[0-9X]$"
_ID15_RE = r"^[1-9][0-9]{14}$"
_USCC_RE = r"^[0-9A-HJ-NP-RTUWXY]{2}[0-9]{6}[0-9A-HJ-NP-RTUWXY]{10}$"
_ORG_RE = r"^[0-9A-Z]{8}[0-9X]$"
_MOBILE_RE = f"^(?:{MOBILE_PATTERN})$"
_PROVINCES = sorted(int(p) for p in PROVINCE_PREFIXES)


# a number as people type it once thousands separators are gone: 12, -3.5, .5, 12.
NUMBER_RE = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)$"


# ---------------------------------------------------------------- text normalizers


def trim(e: pl.Expr) -> pl.Expr:
    """Leading and trailing whitespace (full-width spaces included) removed."""
    return e.str.strip_chars()


def halfwidth(e: pl.Expr) -> pl.Expr:
    """Full-width ASCII (U+FF01-FF5E) and the ideographic space U+3000 to their half-width forms.

    The twin of ``normalize.halfwidth`` (NFKC) on that range. Most columns hold no full-width
    character at all: the column is searched once, as one string, for the bytes that start one
    (0xEF, or U+3000 itself), and replaced only when some value may hold one."""
    return e.map_batches(_halfwidth_series, return_dtype=pl.String, is_elementwise=True)


def _halfwidth_series(values: pl.Series) -> pl.Series:
    if values.str.len_bytes().sum() == values.str.len_chars().sum():
        return values  # ASCII only: nothing full-width (counting is cheaper than searching)
    joined = values.str.join("").cast(pl.Binary)
    if not (joined.bin.contains(b"\xef").item() or joined.bin.contains("\u3000".encode()).item()):
        return values
    return values.str.replace_many(FULLWIDTH, HALFWIDTH)


def empty_to_null(e: pl.Expr) -> pl.Expr:
    """An empty string is no value."""
    return bind(e, lambda v: pl.when(v.str.len_bytes() > 0).then(v))


def squeeze(e: pl.Expr) -> pl.Expr:
    """Runs of whitespace to one space, trimmed (the twin of ``normalize.squeeze`` after halfwidth)."""
    return e.str.replace_all(r"\s+", " ").str.strip_chars()


def upper_x(e: pl.Expr) -> pl.Expr:
    """Upper case, so an ID number's check character ``x`` reads ``X``."""
    return e.str.to_uppercase()


def mobile_digits(e: pl.Expr) -> pl.Expr:
    """A mobile number without spaces, hyphens and a leading +86 / 86 (how ``is_valid_mobile`` reads it)."""
    s = e.str.strip_chars().str.replace_all(" ", "", literal=True).str.replace_all("-", "", literal=True)
    return bind(s, _without_country_code)


def _without_country_code(s: pl.Expr) -> pl.Expr:
    return (
        pl.when(s.str.starts_with("+86"))
        .then(s.str.slice(3))
        .when(s.str.starts_with("86") & (s.str.len_chars() == 13))
        .then(s.str.slice(2))
        .otherwise(s)
    )


# ---------------------------------------------------------------- dates


def _pad2(e: pl.Expr) -> pl.Expr:
    return e.str.zfill(2)


def _only(mask: pl.Expr, e: pl.Expr) -> pl.Expr:
    """``e`` where ``mask`` holds, null elsewhere: the costly work after it skips the other rows
    (polars evaluates both branches of a ``when`` on every row)."""
    return pl.when(mask).then(e)


def bind(value: pl.Expr, body: Callable[[pl.Expr], pl.Expr]) -> pl.Expr:
    """``body(value)`` with ``value`` evaluated once however often ``body`` uses it: an eager
    expression is a tree, and a subexpression used twice is computed twice. Inside a struct's
    ``with_fields`` the value is a field, read for free."""
    return pl.struct(value.alias("v")).struct.with_fields(body(pl.field("v")).alias("r")).struct.field("r")


def _fields(groups: pl.Expr, body: Callable[[Callable[[int], pl.Expr]], pl.Expr]) -> pl.Expr:
    """``body`` over the capture groups of ``extract_groups``, the regex run once."""
    return groups.struct.with_fields(body(lambda n: pl.field(str(n))).alias("_r")).struct.field("_r")


def _tiers(*parsers: Callable[[pl.Expr], pl.Expr]) -> Callable[[pl.Series], pl.Series]:
    """A column parser trying ``parsers`` in turn, each only on the values the ones before left
    unparsed (on their own, so a column written one way pays for one parser only). The last parser
    gets the values trimmed; it is the full regex with groups, the others are fast paths."""

    def run(values: pl.Series) -> pl.Series:
        frame = values.to_frame("v")
        parsed = frame.select(parsers[0](pl.col("v"))).to_series()
        for position, parser in enumerate(parsers[1:], start=2):
            rest = parsed.is_null() & values.is_not_null()
            if not rest.any():
                break
            text = pl.col("v").str.strip_chars() if position == len(parsers) else pl.col("v")
            parsed = parsed.scatter(rest.arg_true(), frame.filter(rest).select(parser(text)).to_series())
        return parsed

    return run


def parse_date_expr(e: pl.Expr) -> pl.Expr:
    """Text to ``pl.Date``: 2019年3月5日, 20190305, 2019/3/5, 2019-3-5, 2019.3.5 (leading zeros optional,
    spaces around, a time after the date ignored) and a 5-digit Excel serial day; null when it is
    none of these or the day does not exist (2019-02-30). The twin of ``normalize.parse_date`` for
    text that went through ``halfwidth`` (the caller keeps the raw value for the reason).

    20190305 and 2019-03-05 take a fast path; only what is left goes through the regex with groups."""
    return e.map_batches(_parse_dates, return_dtype=pl.Date, is_elementwise=True)


def _date_compact(s: pl.Expr) -> pl.Expr:
    return _only(s.str.contains(r"^[0-9]{8}$"), s).str.to_date("%Y%m%d", strict=False)


def _date_iso(s: pl.Expr) -> pl.Expr:
    return _only(s.str.contains(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"), s).str.to_date("%Y-%m-%d", strict=False)


def _date_slow(s: pl.Expr) -> pl.Expr:
    def day(g: Callable[[int], pl.Expr]) -> pl.Expr:
        text = pl.concat_str(g(1), _pad2(pl.coalesce(g(2), g(4))), _pad2(pl.coalesce(g(3), g(5))))
        return text.str.to_date("%Y%m%d", strict=False)

    serial = s.str.extract(_EXCEL_SERIAL_RE, 1).cast(pl.Int64)
    from_serial = (pl.lit(_EXCEL_EPOCH) + pl.duration(days=serial)).cast(pl.Date)
    return pl.coalesce(_fields(s.str.extract_groups(_DATE_RE), day), from_serial)


_parse_dates = _tiers(_date_compact, _date_iso, _date_slow)

_ISO_SECONDS = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}$"


def parse_datetime_expr(e: pl.Expr) -> pl.Expr:
    """Text to ``pl.Datetime("us")``: 20190305143000, 2019-03-05 14:30:00 (also with / . 年月日 and
    without seconds), ISO 8601 with ``T``, fractions and an offset (``Z``, ``+08:00``: converted to
    Beijing time, stored naive), or a date alone (midnight); null otherwise.

    20190305143000, 2019-03-05 14:30:00 and 2019-03-05T14:30:00 take a fast path; only what is left
    goes through the regex with groups."""
    return e.map_batches(_parse_datetimes, return_dtype=pl.Datetime("us"), is_elementwise=True)


def _datetime_compact(s: pl.Expr) -> pl.Expr:
    return _only(s.str.contains(r"^[0-9]{14}$"), s).str.to_datetime(
        "%Y%m%d%H%M%S", time_unit="us", strict=False
    )


def _datetime_iso(s: pl.Expr) -> pl.Expr:
    return _only(s.str.contains(_ISO_SECONDS), s.str.replace("T", " ", literal=True)).str.to_datetime(
        "%Y-%m-%d %H:%M:%S", time_unit="us", strict=False
    )


def _datetime_slow(s: pl.Expr) -> pl.Expr:
    return _fields(s.str.extract_groups(_DATETIME_RE), _datetime)


def _datetime(g: Callable[[int], pl.Expr]) -> pl.Expr:
    """A datetime from the groups of ``_DATETIME_RE``."""

    def part(*numbers: int, default: str | None = None) -> pl.Expr:
        parts = [g(n) for n in numbers]
        if default is not None:
            parts.append(pl.lit(default))
        return _pad2(pl.coalesce(parts))

    text = pl.concat_str(
        g(1), pl.lit("-"), part(2, 7), pl.lit("-"), part(3, 8), pl.lit(" "),
        part(4, 9, default="0"), pl.lit(":"), part(5, 10, default="0"), pl.lit(":"), part(6, 11, 12, default="0"),
    )  # fmt: skip
    base = text.str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="us", strict=False)
    micros = g(13).str.slice(0, 6).str.pad_end(6, "0").cast(pl.Int64, strict=False).fill_null(0)
    zone = g(14)
    digits = zone.str.replace_all(r"[^0-9]", "")
    offset = (
        digits.str.slice(0, 2).cast(pl.Int64, strict=False) * 60
        + digits.str.slice(2, 2).cast(pl.Int64, strict=False)
    ) * pl.when(zone.str.starts_with("-")).then(-1).otherwise(1)
    shift = (
        pl.when(zone.is_null())
        .then(0)
        .when(zone == "Z")
        .then(LOCAL_UTC_OFFSET_MINUTES)
        .otherwise(LOCAL_UTC_OFFSET_MINUTES - offset)
    )
    return base + pl.duration(microseconds=micros) + pl.duration(minutes=shift)


_parse_datetimes = _tiers(_datetime_compact, _datetime_iso, _datetime_slow)


# ---------------------------------------------------------------- shared pieces


def _bytes(e: pl.Expr, count: int) -> pl.Expr:
    """ASCII text of exactly ``count`` bytes as an ``Array(Int16, count)`` of byte values, null for
    any other length: one pass, then weighted sums are array arithmetic."""
    raw = e.cast(pl.Binary).bin.reinterpret(dtype=pl.Array(pl.UInt8, count))
    return raw.cast(pl.Array(pl.Int16, count))


def _weights(weights: tuple[int, ...], size: int, offset: int = 0) -> pl.Expr:
    """A weight vector as a literal array of ``size``, the weights placed from ``offset``, zeros elsewhere."""
    padded = [0] * offset + list(weights) + [0] * (size - offset - len(weights))
    return pl.lit(pl.Series([padded], dtype=pl.Array(pl.Int16, size)))


def _base36(codes: pl.Expr) -> pl.Expr:
    """Byte values of 0-9A-Z to 0-35 (the values GB 11714 gives letters: A=10 … Z=35)."""
    return codes - 48 - 7 * (codes // 65)


def _value36(char: pl.Expr) -> pl.Expr:
    return char.str.to_integer(base=36, strict=False)


def _keep_null(e: pl.Expr, ok: pl.Expr) -> pl.Expr:
    """A validator's answer: null for a null value, else true or false."""
    return pl.when(e.is_not_null()).then(ok.fill_null(False))


def _all_parts(parts: pl.Expr, names: tuple[str, ...]) -> pl.Expr:
    """The conjunction of a parts struct's fields."""
    return bind(parts, lambda p: functools.reduce(operator.and_, [p.struct.field(n) for n in names]))


@functools.cache
def _id_birth_days() -> pl.Series:
    """Every day 1800-01-01 … 2099-12-31 (the birth years an ID number's layout allows) as YYYYMMDD."""
    first, last = date(1800, 1, 1), date(2099, 12, 31)
    days = [int((first + timedelta(days=n)).strftime("%Y%m%d")) for n in range((last - first).days + 1)]
    return pl.Series("days", days, dtype=pl.Int64)


def _real_day(yyyymmdd: pl.Expr) -> pl.Expr:
    """An integer YYYYMMDD of 1800-2099 names a day that exists (a set lookup, cheaper than parsing)."""
    return yyyymmdd.is_in(_id_birth_days().implode())


# ---------------------------------------------------------------- 居民身份证号 GB 11643

_ID_WEIGHT_SUM = sum(ID_WEIGHTS)


def cn_id_check_value(first17: pl.Expr) -> pl.Expr:
    """The 18th character's value (0-9, 10 for X) for 17 digits (ISO 7064 MOD 11-2)."""
    total = (_bytes(first17, 17) * _weights(ID_WEIGHTS, 17)).arr.sum() - 48 * _ID_WEIGHT_SUM
    return (12 - total % 11) % 11  # "10X98765432"[Σ mod 11]


def _check_text(value: pl.Expr) -> pl.Expr:
    return pl.when(value == 10).then(pl.lit("X")).otherwise(value.cast(pl.String))


def cn_id_check_char(first17: pl.Expr) -> pl.Expr:
    """The 18th character of a 居民身份证号 for its first 17 digits (twin of ``codes.cn_id_check_char``)."""
    return _check_text(cn_id_check_value(first17))


def cn_id_parts(e: pl.Expr) -> pl.Expr:
    """A struct of three booleans for trimmed, upper-case text: ``layout`` (18 characters: a non-zero
    address code, a birth year 18xx-20xx, digits, a digit or X last), ``birth`` (the embedded birth
    date exists) and ``check`` (the 18th character is right for the first 17). ``birth`` and
    ``check`` mean something only where ``layout`` holds. Evaluated in one pass over the value."""
    frame = pl.struct(e.alias("v")).struct.with_fields(
        layout=pl.field("v").str.contains(_ID_RE),
        day=pl.field("v").str.slice(6, 8).str.to_integer(strict=False),
        total=(_bytes(pl.field("v"), 18) * _weights((*ID_WEIGHTS, 0), 18)).arr.sum() - 48 * _ID_WEIGHT_SUM,
        last=pl.field("v").str.slice(17, 1),
    )
    expected = (12 - pl.field("total") % 11) % 11
    actual = (
        pl.when(pl.field("last") == "X").then(10).otherwise(pl.field("last").str.to_integer(strict=False))
    )
    parts = pl.struct(layout=pl.field("layout"), birth=_real_day(pl.field("day")), check=expected == actual)
    return frame.struct.with_fields(parts.alias("parts")).struct.field("parts")


def cn_id_layout(e: pl.Expr) -> pl.Expr:
    """See ``cn_id_parts``. Expects trimmed, upper-case text."""
    return e.str.contains(_ID_RE)


def cn_id_birth_valid(e: pl.Expr) -> pl.Expr:
    """The embedded birth date (characters 7-14) is a real day. Expects a value of valid layout."""
    return _real_day(e.str.slice(6, 8).str.to_integer(strict=False))


def cn_id_check_valid(e: pl.Expr) -> pl.Expr:
    """The 18th character is right for the first 17. Expects a value of valid layout (and reads it
    twice: give it a column, or use ``cn_id_parts``)."""
    total = (_bytes(e, 18) * _weights((*ID_WEIGHTS, 0), 18)).arr.sum() - 48 * _ID_WEIGHT_SUM
    last = e.str.slice(17, 1)
    actual = pl.when(last == "X").then(10).otherwise(last.str.to_integer(strict=False))
    return (12 - total % 11) % 11 == actual


def cn_id_checks(column: pl.Expr) -> dict[str, pl.Expr]:
    """``cn_id_parts`` as three expressions over a column (trimmed, upper-case text), to be computed
    side by side (``with_columns`` runs them in parallel)."""
    return {
        "layout": cn_id_layout(column),
        "birth": cn_id_birth_valid(column),
        "check": cn_id_check_valid(column),
    }


def cn_id_valid(e: pl.Expr) -> pl.Expr:
    """居民身份证号: layout, a real birth date, the check character (twin of ``codes.is_valid_cn_id``)."""
    return bind(
        e.str.strip_chars().str.to_uppercase(),
        lambda s: _keep_null(s, _all_parts(cn_id_parts(s), ("layout", "birth", "check"))),
    )


def upgrade_cn_id_15(e: pl.Expr) -> pl.Expr:
    """A 15-digit ID number with a real birth date upgraded to 18 digits ("19" inserted after the
    address code, the check character appended); every other value unchanged (the twin of
    ``codes.upgrade_cn_id_15``, which raises where this leaves the value for the cn_id rule).

    Old numbers are rare: the column is looked at once, as a whole, and only its 15-digit values are
    worked on (array arithmetic would otherwise allocate for every row)."""
    return e.map_batches(_upgrade_series, return_dtype=pl.String, is_elementwise=True)


def _upgrade_series(values: pl.Series) -> pl.Series:
    old = values.str.contains(_ID15_RE).fill_null(False)
    if not old.any():
        return values
    frame = pl.DataFrame({"v": values.filter(old)})
    first17 = pl.concat_str(pl.col("v").str.slice(0, 6), pl.lit("19"), pl.col("v").str.slice(6))
    birth_ok = _real_day(first17.str.slice(6, 8).str.to_integer(strict=False))
    upgraded = frame.select(
        pl.when(birth_ok).then(pl.concat_str(first17, cn_id_check_char(first17))).otherwise(pl.col("v"))
    ).to_series()
    return values.scatter(old.arg_true(), upgraded)


# ---------------------------------------------------------------- 统一社会信用代码 / 组织机构代码

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CHARS36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _uscc_index(value36: pl.Expr) -> pl.Expr:
    """Base-36 values (0-35) to indexes in the 31-character set, which leaves out I O S V Z:
    subtract one for each left-out letter below (``(v + 63 - k) // 64`` is 1 when v > k, for v < 36)."""
    return value36 - sum((value36 + 63 - k) // 64 for k in (18, 24, 28, 31))


def _org_expected_value(weighted_sum: pl.Expr) -> pl.Expr:
    """The GB 11714 check character as a base-36 value (X = 33, 0 for 11) for the body's weighted sum."""
    return bind(
        11 - weighted_sum % 11, lambda c: pl.when(c == 10).then(33).when(c == 11).then(0).otherwise(c)
    )


def _char_of(value: pl.Expr, charset: str) -> pl.Expr:
    return value.replace_strict(
        list(range(len(charset))), list(charset), default=None, return_dtype=pl.String
    )


def _uscc_sums(e: pl.Expr) -> pl.Expr:
    """For an 18-character code: ``index`` (the expected 18th character's index in the 31-character
    set) and ``org`` (the expected 17th character's base-36 value, the embedded GB 11714 check)."""
    values = pl.struct(e.alias("v")).struct.with_fields(a=_base36(_bytes(pl.field("v"), 18)))
    sums = values.struct.with_fields(
        index=(31 - (_uscc_index(pl.field("a")) * _weights(USCC_WEIGHTS, 18)).arr.sum() % 31) % 31,
        org=_org_expected_value((pl.field("a") * _weights(ORG_WEIGHTS, 18, offset=8)).arr.sum()),
    )
    return sums.struct.with_fields(
        result=pl.struct(index=pl.field("index"), org=pl.field("org"))
    ).struct.field("result")


def uscc_parts(e: pl.Expr) -> pl.Expr:
    """A struct of three booleans for trimmed, upper-case text: ``layout`` (18 characters of the
    31-character set, 6 digits of region code), ``check`` (the 18th character, GB 32100 MOD 31) and
    ``org`` (the 17th, check character of the embedded 组织机构代码). Evaluated in one pass."""
    frame = pl.struct(e.alias("v")).struct.with_fields(
        layout=pl.field("v").str.contains(_USCC_RE), sums=_uscc_sums(pl.field("v"))
    )
    parts = pl.struct(
        layout=pl.field("layout"),
        check=pl.field("sums").struct.field("index") == _uscc_index(_value36(pl.field("v").str.slice(17, 1))),
        org=pl.field("sums").struct.field("org") == _value36(pl.field("v").str.slice(16, 1)),
    )
    return frame.struct.with_fields(parts.alias("parts")).struct.field("parts")


def uscc_checks(column: pl.Expr) -> dict[str, pl.Expr]:
    """``uscc_parts`` as three expressions over a column (trimmed, upper-case text)."""
    sums = _uscc_sums(column)
    return {
        "layout": column.str.contains(_USCC_RE),
        "check": sums.struct.field("index") == _uscc_index(_value36(column.str.slice(17, 1))),
        "org": sums.struct.field("org") == _value36(column.str.slice(16, 1)),
    }


def uscc_expected_check_char(e: pl.Expr) -> pl.Expr:
    """The 18th character a credit code's first 17 call for (twin of ``codes.uscc_check_char``).
    Expects 18 characters."""
    return _char_of(_uscc_sums(e).struct.field("index"), USCC_CHARSET)


def uscc_expected_org_char(e: pl.Expr) -> pl.Expr:
    """The 17th character (the embedded 组织机构代码's check character) a credit code calls for.
    Expects 18 characters."""
    return _char_of(_uscc_sums(e).struct.field("org"), _CHARS36)


def uscc_valid(e: pl.Expr, *, check_org: bool = True) -> pl.Expr:
    """统一社会信用代码: charset and layout, its check character and (by default) the embedded
    组织机构代码's check character (twin of ``codes.is_valid_uscc``)."""
    names = ("layout", "check", "org") if check_org else ("layout", "check")
    return bind(
        e.str.strip_chars().str.to_uppercase(), lambda s: _keep_null(s, _all_parts(uscc_parts(s), names))
    )


def org_code_body(e: pl.Expr) -> pl.Expr:
    """An organization code as checked: trimmed, upper case, without the hyphen before the check char."""
    return e.str.strip_chars().str.to_uppercase().str.replace_all("-", "", literal=True)


def _org_expected(body: pl.Expr) -> pl.Expr:
    return _org_expected_value(
        (_base36(_bytes(body.str.slice(0, 8), 8)) * _weights(ORG_WEIGHTS, 8)).arr.sum()
    )


def org_code_expected_char(body: pl.Expr) -> pl.Expr:
    """The 9th character of a 组织机构代码 for its first 8 (twin of ``codes.org_code_check_char``).
    Expects a body (see ``org_code_body``) of 9 characters."""
    return _char_of(_org_expected(body), _CHARS36)


def org_code_parts(body: pl.Expr) -> pl.Expr:
    """``layout`` (8 digits or capital letters and a digit or X) and ``check`` of a body (see
    ``org_code_body``), as a struct, in one pass."""
    frame = pl.struct(body.alias("v")).struct.with_fields(
        layout=pl.field("v").str.contains(_ORG_RE),
        check=_org_expected(pl.field("v")) == _value36(pl.field("v").str.slice(8, 1)),
    )
    return frame.struct.with_fields(
        pl.struct(layout=pl.field("layout"), check=pl.field("check")).alias("parts")
    ).struct.field("parts")


def org_code_checks(body: pl.Expr) -> dict[str, pl.Expr]:
    """``org_code_parts`` as two expressions over a column of bodies (see ``org_code_body``)."""
    return {
        "layout": body.str.contains(_ORG_RE),
        "check": _org_expected(body) == _value36(body.str.slice(8, 1)),
    }


def org_code_valid(e: pl.Expr) -> pl.Expr:
    """组织机构代码 GB 11714 (twin of ``codes.is_valid_org_code``)."""
    return bind(e, lambda v: _keep_null(v, _all_parts(org_code_parts(org_code_body(v)), ("layout", "check"))))


# ---------------------------------------------------------------- 行政区划代码, 手机号码


def region_code_valid(e: pl.Expr, codes: list[str] | None = None) -> pl.Expr:
    """6 digits with a GB/T 2260 province prefix and a level shape (xx0000, xxxx00, xxxxxx with a
    prefecture part); with ``codes``, also one of them (twin of ``codes.is_valid_region_code``)."""

    def shape(n: pl.Expr) -> pl.Expr:
        return (n // 10000).is_in(_PROVINCES) & ~((n // 100 % 100 == 0) & (n % 100 != 0))

    def check(s: pl.Expr) -> pl.Expr:
        # 6 bytes that parse as an integer with a province prefix (11-82) can only be 6 digits
        ok = (s.str.len_bytes() == 6) & bind(s.str.to_integer(strict=False), shape)
        if codes is not None:
            ok = ok & s.is_in(codes)
        return _keep_null(s, ok)

    return bind(e.str.strip_chars(), check)


def mobile_valid(e: pl.Expr) -> pl.Expr:
    """中国大陆手机号码 by ``codes.MOBILE_PATTERN``, optionally written with +86 / 86, spaces or
    hyphens (twin of ``codes.is_valid_mobile``)."""
    return bind(e, lambda v: _keep_null(v, mobile_digits(v).str.contains(_MOBILE_RE)))


# ---------------------------------------------------------------- formula injection

# = @ tab CR always; + or - unless the whole value reads as a number or a phone number
# (-3.5, +86 138 0013 8000, -.5): "-1+cmd|' /C calc'!A0" runs in Excel just like "=cmd|...".
_FORMULA_CHARS = ("=", "@", "\t", "\r")
_SIGNED_NUMBER = r"^[+-][0-9.][0-9 .()\-]*$"


def formula_injection(e: pl.Expr) -> pl.Expr:
    """Text a spreadsheet would run as a formula (疑似公式注入): it starts with ``=``, ``@``, a tab
    or a carriage return, or with ``+`` / ``-`` and is not a plain signed number or phone number."""

    def body(v: pl.Expr) -> pl.Expr:
        formula = functools.reduce(operator.or_, [v.str.starts_with(c) for c in _FORMULA_CHARS])
        signed = v.str.starts_with("+") | v.str.starts_with("-")
        number = _only(signed, v).str.contains(_SIGNED_NUMBER).fill_null(False)  # regex for signed only
        return formula | (signed & ~number)

    return bind(e, body)


# ---------------------------------------------------------------- other types


def parse_bool_expr(e: pl.Expr) -> pl.Expr:
    """是/否, 1/0, true/false, Y/N (any case) and the other words of ``normalize.parse_bool`` to
    ``pl.Boolean``; null otherwise."""
    words = {**dict.fromkeys(BOOL_TRUE, True), **dict.fromkeys(BOOL_FALSE, False)}
    return e.str.strip_chars().str.to_lowercase().replace_strict(words, default=None, return_dtype=pl.Boolean)


def format_pattern(fmt: str) -> tuple[str, str] | None:
    """The regex a GB/T 19488 format like ``n6`` (exactly 6 digits) or ``n..20`` (1-20 digits) calls
    for, with its Chinese description; None for formats only a length rule checks (a/an, dates)."""
    match = re.fullmatch(r"n(\.\.)?([0-9]+)", fmt.strip())
    if match is None:
        return None
    size = int(match[2])
    if match[1]:
        return f"^[0-9]{{1,{size}}}$", f"不超过 {size} 位数字"
    return f"^[0-9]{{{size}}}$", f"{size} 位数字"
