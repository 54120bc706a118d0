"""The quality report as the provider and the operator read it: each rule's outcome, the score, late,
never-loaded and failing resources — on loads with known faults, on both backends."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.core.auth import Principal
from jutong.core.clock import today
from jutong.ingest import pipeline, quality, readers
from jutong.ingest.models import Load, QualityCheck
from jutong.standards.codes import cn_id_check_char
from tests.conftest import Org
from tests.ingest.conftest import Resources

HEADER = "公民身份号码,姓名,性别代码,民族代码,出生日期,居住地行政区划代码"


def person_id(n: int) -> str:
    first17 = f"34100219900307{n:03d}"
    return first17 + cn_id_check_char(first17)


def wrong_check(n: int) -> str:
    good = person_id(n)
    return good[:17] + ("1" if good[17] == "0" else "0")


def load_lines(
    session: Session, principal: Principal, resource: Any, tmp_path: Path, lines: list[str]
) -> Load:
    path = tmp_path / f"data-{len(list(tmp_path.iterdir()))}.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    started = pipeline.start_load(session, resource, principal, mode="full", source_label=path.name)
    return pipeline.execute_load(session, started, readers.open_file(path, filename=path.name), principal)


def good_rows(count: int, first: int = 1) -> list[str]:
    return [f"{person_id(n)},居民{n},{1 + n % 2},01,1990-03-07,341002" for n in range(first, first + count)]


def by_rule(checks: list[QualityCheck]) -> dict[tuple[str, str], QualityCheck]:
    return {(c.column_name, c.rule): c for c in checks}


def test_a_load_with_known_faults_gets_each_rule_judged_and_a_weighted_score(
    session: Session, org: Org, resources: Resources, tmp_path: Path
) -> None:
    steward = org.principal(org.steward)
    lines = [
        *good_rows(16),
        f"{wrong_check(17)},居民17,1,01,1990-03-07,341002",  # ID number check character
        f"{person_id(18)},居民18,3,01,1990-03-07,341002",  # 3 is not a GB/T 2261.1 sex code
        f"{person_id(1)},又一个居民1,1,01,1990-03-07,341002",  # repeats row 2's key
        f"{person_id(20)},,2,01,1990-03-07,341002",  # no name (required)
    ]
    done = load_lines(session, steward, resources.population, tmp_path, lines)
    assert done.status == "succeeded", done.error_message
    assert (done.read_count, done.loaded_count, done.rejected_count) == (20, 16, 4)

    checks = by_rule(list(session.scalars(select(QualityCheck).where(QualityCheck.load_id == done.id))))
    # completeness: 19 of 20 rows have a name → 95 % → warning; every row has an ID number and a sex code
    name = checks[("xm", "required")]
    assert (name.dimension, name.outcome, name.observed, name.failing_count) == (
        "completeness",
        "warn",
        95.0,
        1,
    )
    assert checks[("gmsfhm", "required")].outcome == "pass"
    assert checks[("xbdm", "required")].observed == 100.0
    assert checks[("mzdm", "filled")].outcome == "pass"  # optional items are reported, not judged
    # validity, rule by rule, with the failing values as samples (ID numbers partly hidden: personal data)
    check_char = checks[("gmsfhm", "cn_id")]
    assert (check_char.outcome, check_char.observed, check_char.failing_count) == ("warn", 95.0, 1)
    assert len(check_char.sample) == 1 and "*" in check_char.sample[0]
    assert check_char.sample[0][:4] == wrong_check(17)[:4] and check_char.sample[0] != wrong_check(17)
    sex = checks[("xbdm", "code_set")]
    assert (sex.outcome, sex.failing_count, sex.sample) == ("warn", 1, ["3"])
    # rules nothing failed are reported as passed, so the report shows what was checked
    assert checks[("jzdxzqh", "region_code")].outcome == "pass"
    assert checks[("csrq", "type")].outcome == "pass" and checks[("xm", "formula")].failing_count == 0
    # uniqueness: the repeated key
    unique = checks[("gmsfhm", "key_unique")]
    assert (unique.dimension, unique.outcome, unique.failing_count, unique.observed) == (
        "uniqueness",
        "warn",
        1,
        95.0,
    )
    # timeliness: the first load of a resource is on time
    assert checks[("", "late")].outcome == "pass" and checks[("", "late")].message == "首次归集"
    assert {c.outcome for c in checks.values()} <= {"pass", "warn"}

    # the score: completeness (100 + 95 + 100) / 3 (key and required items), validity 17 of 20 rows pass
    # every rule (the repeated key is uniqueness's business), uniqueness 95, timeliness 100, weighed 30 / 40 / 15 / 15
    dims = done.stats["quality"]["dimensions"]
    assert dims == {"completeness": 98.33, "validity": 85.0, "uniqueness": 95.0, "timeliness": 100.0}
    assert done.quality_score == round((30 * 98.33 + 40 * 85 + 15 * 95 + 15 * 100) / 100, 1) == 92.7
    assert quality.resource_score(session, resources.population.id) == 92.7


def test_many_bad_rows_fail_the_rules_and_put_the_resource_on_the_failing_list(
    session: Session, org: Org, resources: Resources, tmp_path: Path
) -> None:
    steward = org.principal(org.steward)
    lines = good_rows(6) + [f"{wrong_check(n)},居民{n},3,01,1990-03-07,341002" for n in range(7, 11)]
    done = load_lines(session, steward, resources.population, tmp_path, lines)
    checks = by_rule(quality.load_checks(session, done.id))
    assert checks[("gmsfhm", "cn_id")].outcome == "fail" and checks[("gmsfhm", "cn_id")].observed == 60.0
    assert checks[("xbdm", "code_set")].failing_count == 4
    # 6 of 10 rows valid: 30 + 40 × 60 % + 15 + 15 = 84, under the failing line of 90
    assert done.quality_score == 84.0 < quality.FAILING_SCORE

    failing = quality.failing_resources(session)
    assert [(f.name, f.load_id) for f in failing] == [("常住人口基础信息", done.id)]
    assert failing[0].reason == "最近一次归集的质量得分 84 低于 90 分"
    # the rule chart of the resource page counts failures per rule
    report = quality.resource_quality(session, resources.population.id)
    assert ("cn_id", "公民身份号码校验", 4) in report.failing_by_rule
    assert report.load is not None and report.load.id == done.id and report.score == done.quality_score


def test_a_failed_load_lists_the_resource_with_its_reason_and_keeps_no_report(
    session: Session, org: Org, resources: Resources, tmp_path: Path
) -> None:
    steward = org.principal(org.steward)
    path = tmp_path / "缺列.csv"
    path.write_text("姓名,性别代码\n张三,1\n", encoding="utf-8")
    started = pipeline.start_load(session, resources.population, steward, mode="full", source_label=path.name)
    failed = pipeline.execute_load(session, started, readers.open_file(path, filename=path.name), steward)
    assert failed.status == "failed"
    assert quality.load_checks(session, failed.id) == [] and failed.quality_score is None
    [entry] = quality.failing_resources(session)
    assert entry.status == "failed" and entry.reason.startswith("最近一次归集失败：数据缺少")
    # a steward of another department does not see it in their list
    assert quality.failing_resources(session, org.civil.id) == []


def test_late_and_never_loaded_resources_against_the_update_cycle(
    session: Session, org: Org, resources: Resources, tmp_path: Path
) -> None:
    steward = org.principal(org.steward)
    load_lines(session, steward, resources.population, tmp_path, good_rows(3))
    day = today()
    # 常住人口 is updated daily (每日): loaded today, it is on time for two more days, late on the third
    assert quality.late_resources(session, day + timedelta(days=2)) == []
    [late] = quality.late_resources(session, day + timedelta(days=3))
    assert (late.name, late.update_cycle, late.allowed_days, late.days_since) == (
        "常住人口基础信息",
        "daily",
        3,
        3,
    )
    assert "连续 3 天未归集即滞后" in late.reason
    # 低保对象 was never loaded: listed apart, not called late
    never = quality.never_loaded_resources(session)
    assert [n.name for n in never] == ["最低生活保障对象信息"]
    assert all(
        n.name != "最低生活保障对象信息" for n in quality.late_resources(session, day + timedelta(days=30))
    )
    # each department sees its own
    assert quality.never_loaded_resources(session, org.police.id) == []
    assert quality.late_resources(session, day + timedelta(days=3), org.civil.id) == []
    # the thresholds are one table with their reasons, one per update cycle
    assert {k: v[0] for k, v in quality.LATE_AFTER_DAYS.items()} == {
        "realtime": 1, "daily": 3, "weekly": 10, "monthly": 40, "quarterly": 100, "semiannual": 200, "yearly": 400,
    }  # fmt: skip


def test_a_load_that_comes_after_the_allowance_is_marked_late_and_loses_the_timeliness_points(
    session: Session, org: Org, resources: Resources, tmp_path: Path
) -> None:
    steward = org.principal(org.steward)
    first = load_lines(session, steward, resources.population, tmp_path, good_rows(3))
    assert first.quality_score == 100.0
    assert first.finished_at is not None
    first.finished_at -= timedelta(days=5)  # the previous load was five days ago
    session.flush()
    second = load_lines(session, steward, resources.population, tmp_path, good_rows(3))
    late = by_rule(quality.load_checks(session, second.id))[("", "late")]
    assert (late.dimension, late.outcome, late.observed, late.failing_count) == ("timeliness", "fail", 0.0, 3)
    assert f"距上一次成功归集（批次 #{first.id}）5 天" in late.message
    assert second.quality_score == 85.0  # everything else perfect: 100 less the 15 points of timeliness
    history = quality.resource_quality(session, resources.population.id).history
    assert [(p.load_id, p.score) for p in history] == [(first.id, 100.0), (second.id, 85.0)]


def test_assessing_again_replaces_the_report(
    session: Session, org: Org, resources: Resources, tmp_path: Path
) -> None:
    done = load_lines(session, org.principal(org.steward), resources.population, tmp_path, good_rows(2))
    count = len(quality.load_checks(session, done.id))
    again = quality.assess_load(session, done)
    assert len(again) == count == len(quality.load_checks(session, done.id))
    assert sum(quality.WEIGHTS.values()) == 100


def test_a_report_that_cannot_be_made_says_so_and_the_load_still_stands(
    session: Session, org: Org, resources: Resources, tmp_path: Path
) -> None:
    done = load_lines(session, org.principal(org.steward), resources.population, tmp_path, good_rows(2))
    done.stats = {**done.stats, "items": {"read": 2, "items": {"xm": {"non_null": "两个"}}}}  # unreadable
    [check] = quality.assess_load(session, done)
    assert (check.outcome, check.rule) == ("error", "report") and "数据已正常入库" in check.message
    assert done.status == "succeeded" and done.quality_score is None
    assert quality.load_checks(session, done.id) == [check]
