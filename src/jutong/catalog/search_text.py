"""Chinese text → index tokens, and queries → full-text expressions (pure functions, no database).

Index tokens (``catalog_entry.search_text``, space-separated; the database indexes them):

- every CJK run gives its overlapping bigrams and trigrams and, last, its final character
  (常住人口 → 常住 住人 人口 常住人 住人口 口); other words (ASCII letters, digits) stay whole; all after
  NFKC (full-width → half-width) and lower case;
- the name's tokens once more with the mark ``ǂ`` (ǂ人口), so "the name holds the word" is a query too;
- one token per facet value (ǂd12 department, ǂk101 classification prefixes, ǂsconditional share type …),
  so filters are index lookups and counts never need to read the rows.

Query terms: two or three CJK characters are one token (人口 finds 常住人口基础信息); four or more are all
their trigrams (常住人口 → 常住人 AND 住人口) — exact in practice and needing no word positions, so
PostgreSQL's GIN index answers without re-checking rows; one CJK character is a prefix (the trailing
character covers the end of a run); other words are prefixes. Space-separated terms AND together; each
term also matches its synonyms (``data/synonyms.txt``, both directions). Expressions are built only from
tokens of letters and digits, always quoted, so nothing a user types can change the full-text syntax; they
reach the database as bound parameters.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

MARK = "ǂ"
SYNONYMS_FILE = Path(__file__).parent / "data" / "synonyms.txt"
MAX_QUERY_CHARS = 100
MAX_TERMS = 8
MAX_VARIANTS = 6

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003ffff"
_RUN = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)")

# facet → token letter; the classification letter covers 类 (1 digit), 项 (3) and every longer prefix
FACET_LETTERS = {
    "department": "d",
    "classification": "k",
    "share_type": "s",
    "open_type": "o",
    "format": "f",
    "update_cycle": "u",
}


def normalize(text: str) -> str:
    """Full-width → half-width, compatibility forms folded, lower case; the mark is not user input."""
    return unicodedata.normalize("NFKC", text).lower().replace(MARK, " ")


def _runs(text: str) -> list[tuple[bool, str]]:
    """(is_cjk, run) for each CJK run or word of normalized text; punctuation separates."""
    return [(bool(m.group(1)), m.group(0)) for m in _RUN.finditer(text)]


def index_tokens(text: str) -> list[str]:
    tokens: list[str] = []
    for cjk, run in _runs(normalize(text)):
        if cjk and len(run) > 1:
            tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
            tokens.extend(run[i : i + 3] for i in range(len(run) - 2))
            tokens.append(run[-1])
        else:
            tokens.append(run)
    return tokens


def facet_token(facet: str, value: str) -> str:
    return MARK + FACET_LETTERS[facet] + re.sub(r"[^0-9a-z]", "", str(value).lower())


def facet_tokens(
    department_id: int, classification_code: str, share: str, open_: str, format_: str, cycle: str
) -> list[str]:
    prefixes = [classification_code[:n] for n in range(1, len(classification_code) + 1)]
    return [
        facet_token("department", str(department_id)),
        *(facet_token("classification", p) for p in prefixes),
        facet_token("share_type", share),
        facet_token("open_type", open_),
        facet_token("format", format_),
        facet_token("update_cycle", cycle),
    ]


def search_text_of(name: str, body: list[str], facets: list[str]) -> str:
    """What the database indexes for one entry: marked name, plain name and body, facet tokens.

    A space before and after every token, so a token is also a plain substring test (`` 人口 ``).
    """
    name_tokens = index_tokens(name)
    plain = name_tokens + [t for part in body for t in index_tokens(part)]
    return " " + " ".join([MARK + t for t in name_tokens] + plain + facets) + " "


@lru_cache(maxsize=1)
def synonym_groups() -> tuple[tuple[str, ...], ...]:
    groups: list[tuple[str, ...]] = []
    for line in SYNONYMS_FILE.read_text(encoding="utf-8").splitlines():
        words = tuple(dict.fromkeys(normalize(w) for w in line.split("#", 1)[0].split()))
        if len(words) > 1:
            groups.append(words)
    return tuple(groups)


def variants_of(term: str) -> list[str]:
    """The term and the words it stands for: 社保 → 社会保险, 社会保险 → 社保, 社保卡 → 社会保险卡."""
    found = [term]
    for group in synonym_groups():
        for member in group:
            if member in term:
                found.extend(term.replace(member, other) for other in group if other != member)
    return list(dict.fromkeys(found))[:MAX_VARIANTS]


@dataclass(frozen=True)
class Term:
    text: str
    variants: tuple[str, ...]


def parse_query(query: str | None) -> list[Term]:
    """Each CJK run or word of the query is a term (AND); spaces and punctuation separate terms."""
    runs = dict.fromkeys(run for _, run in _runs(normalize(query or "")[:MAX_QUERY_CHARS]))
    return [Term(run, tuple(variants_of(run))) for run in list(runs)[:MAX_TERMS]]


# --- expressions -------------------------------------------------------------------------------
# A small tree rendered three ways: FTS5 MATCH text, PostgreSQL tsquery text, and (for SQLite walks
# along a sort index) substring tests on ``search_text``, which holds " token token … " with a space on
# each side of every token.


@dataclass(frozen=True)
class Token:
    text: str
    prefix: bool = False


@dataclass(frozen=True)
class All:
    parts: tuple[Expr, ...]


@dataclass(frozen=True)
class Any_:
    parts: tuple[Expr, ...]


@dataclass(frozen=True)
class Without:
    kept: Expr
    dropped: Expr


Expr = Token | All | Any_ | Without


def _run_expr(cjk: bool, run: str, mark: str) -> Expr:
    if cjk and len(run) > 3:  # every trigram of the run: no positions needed, so no re-checking
        return All(tuple(Token(mark + run[i : i + 3]) for i in range(len(run) - 2)))
    return Token(mark + run, prefix=len(run) == 1 if cjk else len(run) > 1)


def _all(parts: list[Expr]) -> Expr:
    return parts[0] if len(parts) == 1 else All(tuple(parts))


def _any(parts: list[Expr]) -> Expr:
    return parts[0] if len(parts) == 1 else Any_(tuple(parts))


def term_expr(term: Term, *, in_name: bool = False) -> Expr:
    """The term or any of its synonyms; ``in_name``: found in the name."""
    mark = MARK if in_name else ""
    options = [_all([_run_expr(cjk, run, mark) for cjk, run in _runs(v)]) for v in term.variants if _runs(v)]
    return _any(options)


def filter_expr(facet: str, values: list[str]) -> Expr:
    return _any([Token(facet_token(facet, v)) for v in values])


def all_of(parts: list[Expr]) -> Expr | None:
    return _all(parts) if parts else None


def to_fts5(expr: Expr) -> str:
    if isinstance(expr, Token):
        return f'"{expr.text}"' + ("*" if expr.prefix else "")
    if isinstance(expr, Without):
        return f"({to_fts5(expr.kept)}) NOT ({to_fts5(expr.dropped)})"
    op = " AND " if isinstance(expr, All) else " OR "
    return "(" + op.join(to_fts5(p) for p in expr.parts) + ")"


def to_tsquery(expr: Expr) -> str:
    if isinstance(expr, Token):
        return expr.text + (":*" if expr.prefix else "")
    if isinstance(expr, Without):
        return f"({to_tsquery(expr.kept)}) & !({to_tsquery(expr.dropped)})"
    op = " & " if isinstance(expr, All) else " | "
    return "(" + op.join(to_tsquery(p) for p in expr.parts) + ")"


def to_substrings(expr: Expr, function: str = "instr") -> tuple[str, dict[str, str]]:
    """SQL testing ``search_text`` by substrings (``instr`` on SQLite, ``strpos`` on PostgreSQL), with
    its named parameters (``:sub0`` …)."""
    params: dict[str, str] = {}

    def test(needle: str) -> str:
        key = f"sub{len(params)}"
        params[key] = needle
        return f"{function}(catalog_entry.search_text, :{key}) > 0"

    def render(e: Expr) -> str:
        if isinstance(e, Token):
            return test(" " + e.text + ("" if e.prefix else " "))
        if isinstance(e, Without):
            return f"({render(e.kept)} AND NOT ({render(e.dropped)}))"
        op = " AND " if isinstance(e, All) else " OR "
        return "(" + op.join(render(p) for p in e.parts) + ")"

    return render(expr), params
