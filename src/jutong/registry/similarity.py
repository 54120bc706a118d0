"""Chinese text similarity (中文文本相似度) for the ``replaceable`` zombie rule.

Pure functions, no database: descriptions are cut into words with jieba (accurate mode plus
the dictionary words inside long words, so "婚姻登记" also yields "婚姻" and "登记"), punctuation, stop words and meaningless single
characters are dropped, each description becomes a TF-IDF vector over the corpus it is
compared in, and two descriptions are as similar as the cosine of their vectors. Same
meaning in other words (婚姻登记信息的录入、查询与统计 / 婚姻登记数据录入查询统计管理)
scores high; unrelated descriptions share no words and score 0.

All pairs are scored at once through an inverted index (a sparse matrix product): only
descriptions that share a word are ever multiplied, so a few hundred systems take
milliseconds once jieba is loaded.
"""

from __future__ import annotations

import logging
import math
import threading
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from types import ModuleType

# Function words and words every government system description uses ("系统", "信息", "管理"):
# they say nothing about what a system does, so they must not make two systems look alike.
STOP_WORDS: frozenset[str] = frozenset(
    """
    的 地 得 了 着 过 和 与 及 或 并 且 而 等 对 在 为 是 由 向 从 以 于 把 被 将 这 那 其 之 中 上 下 内 个 各 每
    一 二 三 也 又 就 都 还 可 能 会 要 该 此 本 所 有 无 不 非 进 用 按 通过 以及 并且 或者 以便 以上 以下 等等
    进行 实现 提供 用于 负责 支持 相关 有关 各类 各项 各种 一个 一些 主要 包括 具有 开展 完成 方面 工作 功能
    系统 平台 信息 数据 管理 业务 服务 模块 软件 应用 信息化 信息系统 管理系统 平台系统
    """.split()  # noqa: SIM905
)

# Single characters that do carry meaning on their own in descriptions (税, 车, 房 ...).
MEANINGFUL_SINGLE: frozenset[str] = frozenset(
    "税 车 房 水 电 气 粮 林 药 医 学 警 案 证 照 费 钱 票 桥 路 港 船 矿 油".split()  # noqa: SIM905
)

_lock = threading.Lock()
_jieba: ModuleType | None = None


def _segmenter() -> ModuleType:
    """jieba, loaded and silenced once (its dictionary takes about a second to load)."""
    global _jieba
    if _jieba is None:
        with _lock:
            if _jieba is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict ..." on stderr
                logging.getLogger("jieba").setLevel(logging.WARNING)
                jieba.initialize()
                _jieba = jieba
    return _jieba


def normalize(text: str) -> str:
    """Full-width to half-width, lower case, trimmed."""
    return unicodedata.normalize("NFKC", text or "").lower().strip()


def _is_word(token: str) -> bool:
    if not token or token.isspace():
        return False
    if all(unicodedata.category(ch)[0] in "PSZC" for ch in token):  # punctuation, symbols, spaces
        return False
    if token in STOP_WORDS:
        return False
    if len(token) == 1:
        return token in MEANINGFUL_SINGLE
    return not token.isdigit()


def tokenize(text: str) -> list[str]:
    """The meaningful words of a description, in order, repeats kept."""
    text = normalize(text)
    if not text:
        return []
    jieba = _segmenter()
    frequencies = jieba.dt.FREQ
    words: list[str] = []
    # jieba's search mode, but stop words are dropped before their parts are added
    # ("管理系统" must not leave "管理系" behind)
    for word in (w.strip() for w in jieba.lcut(text)):
        if not _is_word(word):
            continue
        for size in (2, 3):
            for start in range(len(word) - size + 1 if len(word) > size else 0):
                part = word[start : start + size]
                if frequencies.get(part) and _is_word(part):
                    words.append(part)
        words.append(word)
    return words


def tfidf_vectors(documents: Sequence[Sequence[str]]) -> list[dict[str, float]]:
    """One L2-normalised TF-IDF vector per tokenised document.

    Smoothed IDF ``ln((1+N)/(1+df)) + 1``: a word shared by every description still counts a
    little, a word only two descriptions share counts most.
    """
    n = len(documents)
    df: Counter[str] = Counter()
    for tokens in documents:
        df.update(set(tokens))
    idf = {term: math.log((1 + n) / (1 + count)) + 1.0 for term, count in df.items()}
    vectors: list[dict[str, float]] = []
    for tokens in documents:
        tf = Counter(tokens)
        vector = {term: (1.0 + math.log(count)) * idf[term] for term, count in tf.items()}
        norm = math.sqrt(sum(w * w for w in vector.values()))
        vectors.append({term: w / norm for term, w in vector.items()} if norm else {})
    return vectors


def cosine(a: dict[str, float], b: dict[str, float]) -> float:
    """Cosine of two normalised sparse vectors."""
    if len(a) > len(b):
        a, b = b, a
    return sum(weight * b.get(term, 0.0) for term, weight in a.items())


def pairwise_scores(vectors: Sequence[dict[str, float]]) -> dict[tuple[int, int], float]:
    """Cosine of every pair (i < j) that shares at least one word, via an inverted index."""
    postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for index, vector in enumerate(vectors):
        for term, weight in vector.items():
            postings[term].append((index, weight))
    scores: dict[tuple[int, int], float] = defaultdict(float)
    for entries in postings.values():
        for pos, (i, wi) in enumerate(entries):
            for j, wj in entries[pos + 1 :]:
                scores[(i, j)] += wi * wj
    return {pair: min(1.0, score) for pair, score in scores.items()}


def similar_pairs(texts: Sequence[str], threshold: float) -> list[tuple[int, int, float]]:
    """Pairs (i, j, score), i < j, whose descriptions score at least ``threshold``, best first."""
    vectors = tfidf_vectors([tokenize(text) for text in texts])
    found = [(i, j, score) for (i, j), score in pairwise_scores(vectors).items() if score >= threshold - 1e-9]
    return sorted(found, key=lambda item: (-item[2], item[0], item[1]))


def text_similarity(a: str, b: str, corpus: Sequence[str] = ()) -> float:
    """Similarity of two descriptions, weighted by a corpus they belong to (default: just the two)."""
    documents = [tokenize(a), tokenize(b), *(tokenize(text) for text in corpus)]
    vectors = tfidf_vectors(documents)
    return min(1.0, cosine(vectors[0], vectors[1]))
