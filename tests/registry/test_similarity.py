"""中文文本相似度: same meaning in other words scores high, unrelated descriptions score low."""

from __future__ import annotations

import logging
import time

import pytest

from jutong.registry import similarity

MARRIAGE_A = "婚姻登记信息的录入、查询与统计"
MARRIAGE_B = "婚姻登记数据录入查询统计管理"
CORPUS = [
    "道路交通违法行为处理与罚没款缴纳",
    "社会救助对象认定与资金发放",
    "流动人口居住登记与居住证办理",
    "办公室内部公文流转和档案管理",
    "机动车驾驶证业务办理",
    "养老机构登记与补贴发放",
]


def test_tokens_drop_punctuation_stop_words_and_meaningless_single_characters() -> None:
    tokens = similarity.tokenize("婚姻登记信息的录入、查询与统计！")
    assert {"婚姻", "登记", "录入", "查询", "统计"} <= set(tokens)
    assert not {"的", "与", "、", "！", "信息"} & set(tokens)
    assert similarity.tokenize("") == [] and similarity.tokenize("，。、") == []


def test_tokens_keep_meaningful_single_characters_and_normalise_full_width() -> None:
    assert "税" in similarity.tokenize("税 的 征收")
    assert similarity.tokenize("ＡＢＣ系统") == similarity.tokenize("abc系统")


def test_stop_word_compounds_leave_no_fragments() -> None:
    tokens = similarity.tokenize("公文流转与电子档案管理系统")
    assert "管理系" not in tokens and "系统" not in tokens


def test_same_meaning_in_other_words_scores_above_the_threshold() -> None:
    score = similarity.text_similarity(MARRIAGE_A, MARRIAGE_B, CORPUS)
    assert score >= 0.6, score


def test_unrelated_descriptions_score_low() -> None:
    assert similarity.text_similarity(MARRIAGE_A, "道路交通违法行为处理与罚没款缴纳", CORPUS) == 0.0
    assert similarity.text_similarity(MARRIAGE_A, "养老机构登记与补贴发放", CORPUS) < 0.3


def test_empty_description_is_similar_to_nothing() -> None:
    assert similarity.text_similarity("", MARRIAGE_A) == 0.0
    assert similarity.text_similarity("", "") == 0.0


def test_similar_pairs_finds_only_the_pairs_above_the_threshold() -> None:
    texts = [MARRIAGE_A, *CORPUS, MARRIAGE_B]
    pairs = similarity.similar_pairs(texts, 0.6)
    assert [(i, j) for i, j, _ in pairs] == [(0, len(texts) - 1)]
    assert pairs[0][2] == pytest.approx(similarity.text_similarity(MARRIAGE_A, MARRIAGE_B, CORPUS))


def test_pairwise_scores_equal_the_cosine_of_each_pair() -> None:
    vectors = similarity.tfidf_vectors([similarity.tokenize(t) for t in [MARRIAGE_A, MARRIAGE_B, *CORPUS]])
    scores = similarity.pairwise_scores(vectors)
    for (i, j), score in scores.items():
        assert score == pytest.approx(similarity.cosine(vectors[i], vectors[j]))
    assert all(abs(sum(w * w for w in v.values()) - 1) < 1e-9 for v in vectors if v)


def test_jieba_is_silent(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    with caplog.at_level(logging.DEBUG):
        similarity.tokenize("不动产登记簿查询")
    assert "prefix dict" not in capsys.readouterr().err
    assert not [r for r in caplog.records if r.name == "jieba" and r.levelno < logging.WARNING]


def test_two_hundred_systems_are_compared_well_under_a_second() -> None:
    subjects = [
        "婚姻登记",
        "社会救助",
        "道路交通",
        "流动人口",
        "公文流转",
        "养老机构",
        "不动产",
        "医疗保险",
        "义务教育",
        "食品安全",
        "环境监测",
        "住房公积金",
        "企业登记",
        "税务征收",
        "殡葬管理",
        "残疾人",
    ]
    actions = ["录入", "查询", "统计", "审批", "发放", "核查", "办理", "监测", "预警", "归档", "上报", "公示"]
    texts = [
        f"{subjects[i % 16]}{actions[i % 12]}与{actions[(i * 7) % 12]}及{subjects[(i * 5) % 16]}分析"
        for i in range(200)
    ]
    similarity.tokenize("预热")  # jieba's dictionary loads once per process
    started = time.process_time()  # CPU time: a busy test machine does not make it flaky
    similarity.similar_pairs(texts, 0.6)
    assert time.process_time() - started < 0.5
