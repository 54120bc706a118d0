"""Benchmark: catalog search over 100,000 published resources, on SQLite and PostgreSQL.

    .venv/bin/python bench/catalog_search.py [--entries 100000] [--runs 30] [--backend sqlite|postgresql|both]

Builds a fresh database per backend (a SQLite file in a temporary directory; a ``jutong_bench_catalog``
database on the server at ``JUTONG_BENCH_POSTGRES_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``), runs the migrations, bulk-loads a deterministic
catalog (departments × subjects × suffixes, summaries, data item names) into ``resource`` and
``catalog_entry`` (the database fills its full-text index itself), then times a fixed mix of queries,
each ``--runs`` times, through ``jutong.catalog.search.search`` — the function behind the API, the
page and the CLI — *with facet counting included in every measured call*. The baseline, measured in
the same run, is a plain ``LIKE '%词%'`` scan of the same table (count + first page) for each query
that has words. Target: p99 < 50 ms on each backend.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from jutong.catalog import search as catalog_search
from jutong.catalog import search_text
from jutong.catalog.models import CatalogEntry, Resource
from jutong.core.auth import CLI_PRINCIPAL
from jutong.core.db import make_engine
from jutong.core.migrate import upgrade
from jutong.registry import accounts

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BENCH_DB = "jutong_bench_catalog"
TARGET_MS = 50.0

# --- a realistic catalog ---------------------------------------------------------------------------
# (department, weight, category 1 基础 / 2 主题 / 3 部门 + 项, subjects, domain items)
PERSON = ["姓名", "公民身份号码", "性别", "民族", "出生日期", "户籍地址", "现住址", "联系电话"]
ORG = ["统一社会信用代码", "单位名称", "法定代表人", "注册资本", "成立日期", "经营范围", "登记机关", "住所"]
# fmt: off
DEPARTMENTS: list[tuple[str, int, str, list[str], list[str]]] = [
    ("公安局", 9, "101", ["户籍人口", "流动人口", "常住人口", "居住证", "机动车", "驾驶人", "出入境证件", "治安处罚", "户口迁移"], [*PERSON, "户号", "与户主关系", "车牌号码"]),
    ("民政局", 6, "101", ["婚姻登记", "最低生活保障", "社会组织", "殡葬服务", "养老机构", "特困人员", "临时救助", "地名"], [*PERSON, "婚姻状况", "救助金额", "保障人数"]),
    ("人力资源和社会保障局", 7, "201", ["社会保险参保", "养老保险", "失业保险", "工伤保险", "就业登记", "职业技能鉴定", "劳动仲裁", "社保缴费"], PERSON + ORG[:2] + ["参保险种", "缴费基数", "缴费月数", "参保状态"]),
    ("市场监督管理局", 8, "102", ["企业登记", "个体工商户", "食品经营许可", "特种设备", "企业年报", "行政处罚", "商标", "企业经营异常名录"], [*ORG, "企业类型", "登记状态", "许可证编号"]),
    ("税务局", 5, "102", ["纳税人登记", "企业纳税", "发票开具", "欠税公告", "纳税信用等级", "税收优惠"], [*ORG[:4], "纳税人识别号", "税种", "应纳税额", "信用等级"]),
    ("卫生健康委员会", 5, "201", ["出生医学证明", "医疗机构", "执业医师", "疫苗接种", "死亡医学证明", "传染病报告", "家庭医生签约"], [*PERSON, "机构名称", "执业类别", "接种日期"]),
    ("医疗保障局", 4, "201", ["医疗保险参保", "医保结算", "定点医药机构", "医保目录", "大病保险"], [*PERSON[:4], "医保卡号", "结算金额", "统筹支付"]),
    ("住房公积金管理中心", 3, "201", ["住房公积金缴存", "公积金贷款", "公积金提取", "缴存单位"], PERSON[:3] + ORG[:2] + ["个人账号", "缴存基数", "贷款金额"]),
    ("自然资源和规划局", 5, "103", ["不动产登记", "土地利用现状", "GIS地理信息", "建设用地规划许可", "地质灾害隐患点", "测绘成果"], ["不动产单元号", "权利人", "坐落", "面积", "用途", "坐标"]),
    ("住房和城乡建设局", 4, "203", ["建设工程施工许可", "商品房预售许可", "物业服务企业", "建筑业企业资质", "城镇老旧小区"], [*ORG[:3], "项目名称", "许可证号", "建筑面积"]),
    ("交通运输局", 4, "205", ["道路运输经营许可", "公交线路", "出租汽车", "公路养护", "港口码头"], ["线路名称", "车辆数", "经营者", "起止地点"]),
    ("教育局", 4, "202", ["中小学学籍", "学校基本情况", "教师资格", "学生资助", "校外培训机构"], [*PERSON[:5], "学籍号", "学校名称", "年级", "班级"]),
    ("生态环境局", 3, "206", ["排污许可", "环境质量监测", "水质自动监测", "环境行政处罚", "建设项目环评"], [*ORG[:2], "监测点位", "监测值", "排放口", "污染物"]),
    ("应急管理局", 3, "212", ["安全生产许可", "应急物资储备", "危险化学品经营", "自然灾害灾情", "应急预案"], [*ORG[:2], "物资名称", "储备数量", "风险等级"]),
    ("统计局", 2, "101", ["人口普查", "经济普查", "规模以上工业企业", "居民收支调查"], ["指标名称", "统计期", "数值", "计量单位"]),
    ("农业农村局", 3, "204", ["耕地地力保护补贴", "农产品质量检测", "农民专业合作社", "动物防疫"], [*PERSON[:3], "补贴面积", "补贴金额", "合作社名称"]),
    ("司法局", 2, "210", ["法律援助", "律师执业", "公证机构", "人民调解"], [*PERSON[:3], "案件类型", "受理日期", "承办人"]),
    ("残疾人联合会", 1, "101", ["残疾人证", "残疾人就业", "康复服务"], [*PERSON, "残疾类别", "残疾等级"]),
    ("退役军人事务局", 1, "101", ["退役军人信息采集", "优抚对象", "军休干部"], [*PERSON, "入伍时间", "退役时间"]),
    ("文化和旅游局", 2, "202", ["A级旅游景区", "文物保护单位", "旅行社", "公共文化场馆"], [*ORG[:3], "景区名称", "等级", "开放时间"]),
    ("发展和改革委员会", 2, "307", ["固定资产投资项目", "价格监测", "社会信用代码", "重点项目"], [*ORG[:2], "项目代码", "总投资", "审批文号"]),
    ("财政局", 2, "307", ["财政预算执行", "政府采购合同", "非税收入"], ["预算单位", "科目", "金额", "合同编号"]),
    ("数据资源管理局", 2, "105", ["电子证照目录", "公共资源交易", "政务服务事项", "12345热线工单"], ["证照名称", "证照编号", "持证主体", "发证机关", "有效期"]),
]
# fmt: on
REGIONS = [("市", "341000"), ("示范区", "341002"), ("新城区", "341003"), ("东县", "341021")]
SUFFIXES = [
    "基础信息",
    "信息",
    "登记信息",
    "明细",
    "统计数据",
    "台账",
    "名单",
    "数据",
    "变更记录",
    "查询接口",
    "年度报表",
    "目录",
    "档案",
    "核验服务",
]
COMMON_ITEMS = ["行政区划代码", "登记日期", "更新时间", "数据来源", "备注", "状态"]
PURPOSES = ["政务服务办理", "资格审核", "统计分析", "监管执法", "公共服务", "辅助决策"]
CYCLES = [
    ("realtime", 1),
    ("daily", 4),
    ("weekly", 1),
    ("monthly", 3),
    ("quarterly", 2),
    ("yearly", 2),
    ("other", 1),
]
FORMATS = [("database", 6), ("spreadsheet", 3), ("service", 3), ("document", 1), ("image", 1)]
SHARES = [("unconditional", 1257), ("conditional", 1964), ("none", 529)]  # seed 003's mix


def _pick(rng: random.Random, pairs: list[tuple[str, int]]) -> str:
    return rng.choices([p for p, _ in pairs], [w for _, w in pairs])[0]


def generate(
    n: int, seed: int, department_ids: list[int]
) -> Iterator[tuple[dict[str, object], dict[str, object]]]:
    """(resource row, catalog_entry row) pairs; deterministic for a seed."""
    rng = random.Random(seed)
    weights = [d[1] for d in DEPARTMENTS]
    sequence: dict[str, int] = {}
    now = datetime.now(UTC)
    for i in range(1, n + 1):
        d = rng.choices(range(len(DEPARTMENTS)), weights)[0]
        dept, _, item_code, subjects, pool = DEPARTMENTS[d]
        region = rng.randrange(len(REGIONS))
        department_id = department_ids[region * len(DEPARTMENTS) + d]
        subject = subjects[min(int(rng.expovariate(0.5)), len(subjects) - 1)]
        prefix = rng.choice(["", "", "", "全市", "2024年", REGIONS[region][0] + "辖区"])
        name = f"{prefix}{subject}{rng.choice(SUFFIXES)}"
        items = rng.sample(pool, min(len(pool), rng.randint(4, 9))) + rng.sample(COMMON_ITEMS, 2)
        cycle, fmt, share = _pick(rng, CYCLES), _pick(rng, FORMATS), _pick(rng, SHARES)
        summary = (
            f"{REGIONS[region][0]}{dept}归集的{subject}{rng.choice(['数据', '业务信息', '办理结果'])}，"
            f"包括{'、'.join(items[:3])}等{len(items)}项信息，用于{rng.choice(PURPOSES)}。"
        )
        classification = f"{item_code}{rng.randint(1, 30):03d}"
        sequence[classification] = sequence.get(classification, 0) + 1
        code = f"{classification}/{sequence[classification]:06d}"
        published = date(2019, 1, 1) + timedelta(days=rng.randrange(2190))
        open_type = "closed" if share == "none" else rng.choice(["open", "conditional", "closed", "closed"])
        resource = {
            "id": i, "code": code, "classification_code": classification, "name": name,
            "department_id": department_id, "provider_code": "", "summary": summary,
            "format_category": fmt, "format_type": "", "share_type": share,
            "share_condition": "" if share == "unconditional" else "依据有关规定", "delivery": "api",
            "open_type": open_type, "open_condition": "", "update_cycle": cycle, "publish_date": published,
            "related_codes": [], "security_level": "general", "status": "published",
            "published_version": 1, "return_reason": "", "created_at": now, "updated_at": now,
        }  # fmt: skip
        entry = {
            "id": i, "resource_id": i, "code": code, "version": 1, "name": name, "summary": summary,
            "item_names": "、".join(items), "department_id": department_id,
            "classification_code": classification, "category": classification[0], "share_type": share,
            "open_type": open_type, "format_category": fmt, "update_cycle": cycle,
            "security_level": "general", "publish_date": published,
            "search_text": search_text.search_text_of(
                name,
                [summary, *items, REGIONS[region][0] + dept, code, fmt],
                search_text.facet_tokens(department_id, classification, share, open_type, fmt, cycle),
            ),
        }  # fmt: skip
        yield resource, entry


def _suspend_search_index(conn: Connection) -> list[str]:
    """Bulk loading is faster with the full-text index built once at the end: drop it, say how to redo it."""
    if conn.dialect.name == "sqlite":
        triggers = conn.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'catalog_entry'")
        ).all()
        for name, _ in triggers:
            conn.execute(text(f'DROP TRIGGER "{name}"'))
        rebuild = "INSERT INTO catalog_entry_fts(catalog_entry_fts) VALUES ('rebuild')"
        return [rebuild, *(sql for _, sql in triggers)]
    indexes = conn.execute(
        text("SELECT indexname, indexdef FROM pg_indexes WHERE indexname = 'ix_catalog_entry_search_vector'")
    ).all()
    for name, _ in indexes:
        conn.execute(text(f'DROP INDEX "{name}"'))
    return [sql for _, sql in indexes]


def _insert(conn: Connection, batch: list[tuple[dict[str, object], dict[str, object]]]) -> None:
    if batch:
        conn.execute(insert(Resource), [r for r, _ in batch])
        conn.execute(insert(CatalogEntry), [e for _, e in batch])


def load(engine: Engine, n: int, seed: int) -> float:
    """Migrations, departments, then ``n`` resources and catalog entries in bulk; seconds taken."""
    started = time.perf_counter()
    upgrade(engine)
    with Session(engine) as session:
        accounts.upsert_region(session, "340000", "示范省")
        accounts.upsert_region(session, "341000", "示范市", "340000")
        for name, code in REGIONS[1:]:
            accounts.upsert_region(session, code, name, "341000")
        ids = [
            accounts.upsert_department(session, f"B{r:02d}{d:02d}", f"{region}{dept[0]}", code).id
            for r, (region, code) in enumerate(REGIONS)
            for d, dept in enumerate(DEPARTMENTS)
        ]
        session.commit()
    rows = generate(n, seed, ids)
    with engine.begin() as conn:
        rebuild = _suspend_search_index(conn)
        batch: list[tuple[dict[str, object], dict[str, object]]] = []
        for pair in rows:
            batch.append(pair)
            if len(batch) == 5000:
                _insert(conn, batch)
                batch.clear()
        _insert(conn, batch)
        for statement in rebuild:  # the index and its triggers exactly as the migration made them
            conn.execute(text(statement))
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE catalog_entry"))
    return time.perf_counter() - started


# --- the query mix -----------------------------------------------------------------------------
# (label, query, filters, sort, page)
QUERIES: list[tuple[str, str, dict[str, list[str]], str | None, int]] = [
    ("常用词 人口", "人口", {}, None, 1),
    ("常用词 企业", "企业", {}, None, 1),
    ("常用词 登记", "登记", {}, None, 1),
    ("极常用 信息", "信息", {}, None, 1),
    ("同义词 社保", "社保", {}, None, 1),
    ("同义词 公积金", "公积金", {}, None, 1),
    ("罕见词 殡葬", "殡葬", {}, None, 1),
    ("罕见词 危险化学品", "危险化学品", {}, None, 1),
    ("英文 GIS", "GIS", {}, None, 1),
    ("代码 101001", "101001", {}, None, 1),
    ("单字 车", "车", {}, None, 1),
    ("多词 人口 户籍", "人口 户籍", {}, None, 1),
    ("多词 企业 纳税", "企业 纳税", {}, None, 1),
    ("人口 + 有条件共享", "人口", {"share_type": ["conditional"]}, None, 1),
    ("企业 + 数据库 + 每月", "企业", {"format": ["database"], "update_cycle": ["monthly"]}, None, 1),
    ("浏览 + 部门", "", {"department": ["DEPT"]}, None, 1),
    ("浏览 全部", "", {}, None, 1),
    ("企业 按名称", "企业", {}, "name", 1),
    ("登记 按发布日期", "登记", {}, "newest", 1),
    ("浏览 按部门", "", {}, "department", 1),
    ("企业 第5页", "企业", {}, None, 5),
]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))]


def timed(call: Callable[[], object], runs: int) -> list[float]:
    call()  # warm-up, not counted
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def run_backend(engine: Engine, runs: int) -> tuple[list[float], list[float]]:
    """(search timings, baseline timings) in ms; prints a line per query."""
    dialect = engine.dialect.name
    with Session(engine) as session:
        department = session.scalar(text("SELECT min(department_id) FROM catalog_entry"))
        all_times: list[float] = []
        base_times: list[float] = []
        print(f"  {'查询':<22}{'命中':>8}{'p50':>8}{'p99':>8}{'LIKE p50':>10}")
        for label, query, raw, sort, page in QUERIES:
            raw = {k: [str(department) if v == "DEPT" else v for v in vs] for k, vs in raw.items()}
            filters = catalog_search.parse_filters(dict(raw))

            def call(
                q: str = query, f: catalog_search.SearchFilters = filters, s: str | None = sort, p: int = page
            ) -> object:
                return catalog_search.search(session, CLI_PRINCIPAL, q, f, s, p, 20)

            times = timed(call, runs)
            total = catalog_search.search(session, CLI_PRINCIPAL, query, filters, sort, page, 20).total
            all_times += times
            like = ""
            if query:
                word = query.split()[0].lower()
                haystack = "lower(name || ' ' || summary || ' ' || item_names || ' ' || code)"
                stmt = text(f"SELECT count(*) FROM catalog_entry WHERE {haystack} LIKE :w")
                page_stmt = text(
                    f"SELECT id, name FROM catalog_entry WHERE {haystack} LIKE :w "
                    "ORDER BY publish_date DESC, id DESC LIMIT 20"
                )

                def baseline(w: str = f"%{word}%", stmt: Any = stmt, page_stmt: Any = page_stmt) -> object:
                    session.execute(stmt, {"w": w}).scalar()
                    return session.execute(page_stmt, {"w": w}).all()

                btimes = timed(baseline, max(3, runs // 5))
                base_times += btimes
                like = f"{statistics.median(btimes):10.1f}"
            print(f"  {label:<22}{total:>8}{statistics.median(times):8.1f}{percentile(times, 99):8.1f}{like}")
            session.rollback()
    del dialect
    return all_times, base_times


def summary_line(name: str, times: list[float], base: list[float]) -> str:
    p50, p95, p99 = (percentile(times, p) for p in (50, 95, 99))
    b50, b99 = percentile(base, 50), percentile(base, 99)
    verdict = "达标" if p99 < TARGET_MS else "未达标"
    return (
        f"{name:<12} 检索 p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  p99 {p99:6.1f} ms  （目标 p99 < {TARGET_MS:.0f} ms：{verdict}）"
        f" | 基线 LIKE p50 {b50:7.1f} ms  p99 {b99:7.1f} ms | 基线/检索（p50）{b50 / p50:5.1f} 倍"
    )


def postgres_engine() -> tuple[Engine, Engine] | None:
    base = make_url(os.environ.get("JUTONG_BENCH_POSTGRES_URL", DEFAULT_PG))
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{BENCH_DB}"'))
    except Exception as exc:
        print(f"PostgreSQL 不可用（{base.render_as_string(hide_password=True)}）：{exc}", file=sys.stderr)
        return None
    return make_engine(base.set(database=BENCH_DB).render_as_string(hide_password=False)), admin


def main() -> int:
    parser = argparse.ArgumentParser(description="目录检索基准：10 万条目录上的检索延迟")
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30, help="每个查询计时的次数")
    parser.add_argument("--seed", type=int, default=20241124)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    print(
        f"目录检索基准：{args.entries} 条已发布目录，{len(QUERIES)} 个查询 × {args.runs} 次。每次计时的调用就是 "
        "API/页面/命令行共用的 search()：总数 + 全部 7 个分面计数 + 一页 20 条（含高亮摘要）。"
        f"分面在至多 {catalog_search.FACET_WINDOW} 条匹配结果的窗口里计数，超出时按比例估算（结果中标为“约”）；"
        "PostgreSQL 的总数超出窗口时取规划器估计值。"
    )
    results: dict[str, tuple[list[float], list[float]]] = {}
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
            seconds = load(engine, args.entries, args.seed)
            print(f"\n[SQLite {engine.dialect.server_version_info}] 装载 {seconds:.1f} 秒")
            results["SQLite"] = run_backend(engine, args.runs)
            engine.dispose()
    if args.backend in ("postgresql", "both"):
        found = postgres_engine()
        if found is not None:
            engine, admin = found
            seconds = load(engine, args.entries, args.seed)
            print(f"\n[PostgreSQL {engine.dialect.server_version_info}] 装载 {seconds:.1f} 秒")
            results["PostgreSQL"] = run_backend(engine, args.runs)
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))
            admin.dispose()
    print()
    for name, (times, base) in results.items():
        print(summary_line(name, times, base))
    if results:
        every = [t for times, _ in results.values() for t in times]
        base = [b for _, bs in results.values() for b in bs]
        print(summary_line("合计", every, base))
    return 0 if results and all(percentile(t, 99) < TARGET_MS for t, _ in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
