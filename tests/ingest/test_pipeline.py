"""Loads end to end on both backends: a department's file becomes versioned, standard data, atomically.

Each test writes a small file, loads it through the real readers, rules and data plane, and reads the
data plane table back with SQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from jutong.core.audit import AuditEvent
from jutong.core.auth import Principal
from jutong.core.errors import Forbidden, ValidationFailed
from jutong.ingest import dataplane, pipeline, readers
from jutong.ingest.models import Load, Mapping, Reject, ResourceData
from jutong.standards.codes import cn_id_check_char
from tests.conftest import Org
from tests.ingest.conftest import Resources

HEADER = "公民身份号码,姓名,性别代码,民族代码,出生日期,居住地行政区划代码"


def person_id(n: int, birth: str = "19900307") -> str:
    first17 = f"341002{birth}{n % 1000:03d}"
    return first17 + cn_id_check_char(first17)


def write(tmp_path: Path, name: str, lines: list[str], encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def load(
    session: Session,
    principal: Principal,
    resource: Any,
    path: Path,
    *,
    mode: str = "full",
    mapping: Mapping | None = None,
    batch_rows: int = 200_000,
) -> Load:
    started = pipeline.start_load(
        session, resource, principal, mode=mode, source_label=path.name, mapping=mapping
    )
    batches = readers.open_file(path, filename=path.name, batch_rows=batch_rows)
    return pipeline.execute_load(session, started, batches, principal, mapping=mapping)


def rows(session: Session, resource: Any, columns: str = "gmsfhm, xm, xbdm") -> list[tuple[Any, ...]]:
    table, _ = dataplane.table_names(resource.id)
    return [tuple(r) for r in session.execute(text(f"SELECT {columns} FROM {table} ORDER BY gmsfhm"))]


def changes(session: Session, resource: Any) -> list[tuple[int, str, str]]:
    _, log = dataplane.table_names(resource.id)
    return [tuple(r) for r in session.execute(text(f"SELECT _version, _op, gmsfhm FROM {log} ORDER BY _seq"))]


def counts(done: Load) -> dict[str, int]:
    return {
        "read": done.read_count,
        "loaded": done.loaded_count,
        "rejected": done.rejected_count,
        "inserted": done.inserted_count,
        "updated": done.updated_count,
        "deleted": done.deleted_count,
        "unchanged": done.unchanged_count,
    }


def test_a_first_full_load_stores_good_rows_and_rejects_bad_ones_with_reasons(
    session: Session, org: Org, resources: Resources, tmp_path: Path
) -> None:
    steward = org.principal(org.steward)
    bad_check = person_id(3)[:17] + ("0" if person_id(3)[17] != "0" else "1")
    path = write(
        tmp_path,
        "人口.csv",
        [
            HEADER,
            f"{person_id(1)},张三,1,01,1990-03-07,341002",
            f"{person_id(2)},李四,2,01,1990年3月7日,341002",
            f"{bad_check},王五,1,01,19900307,341002",  # wrong check character
            f"{person_id(4)},,9,57,1990/3/7,341002",  # no name, 57 is not an ethnic group
        ],
    )
    done = load(session, steward, resources.population, path)
    assert done.status == "succeeded", done.error_message
    assert counts(done) == {
        "read": 4, "loaded": 2, "rejected": 2, "inserted": 2, "updated": 0, "deleted": 0, "unchanged": 0,
    }  # fmt: skip
    assert done.data_version == 1 and done.read_count == done.loaded_count + done.rejected_count
    assert rows(session, resources.population) == [(person_id(1), "张三", "1"), (person_id(2), "李四", "2")]
    # dates however they were written end as dates
    birth = session.execute(text(f"SELECT csrq FROM dp_{resources.population.id}")).scalars().all()
    assert {str(b)[:10] for b in birth} == {"1990-03-07"}

    rejects = {r.row_number: r for r in session.scalars(select(Reject).where(Reject.load_id == done.id))}
    assert set(rejects) == {4, 5}  # line numbers as the provider sees them (header is line 1)
    assert [r["rule"] for r in rejects[4].reasons] == ["cn_id"]
    assert rejects[4].raw["公民身份号码"] == bad_check
    rules_5 = {r["rule"] for r in rejects[5].reasons}
    assert {"required", "code_set"} <= rules_5 and len(rejects[5].reasons) >= 2  # every reason, not the first
    assert all(r["message"] for r in rejects[5].reasons)

    # the first load is the baseline: nothing in the change log, the resource knows its version
    assert changes(session, resources.population) == []
    data = session.scalar(select(ResourceData).where(ResourceData.resource_id == resources.population.id))
    assert data is not None and data.data_version == 1 and data.row_count == 2
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "ingest.load")).one()
    assert event.object_id == str(done.id)


def test_a_second_full_load_logs_inserted_updated_and_deleted_rows(
    session: Session, org: Org, resources: Resources, tmp_path: Path
) -> None:
    steward = org.principal(org.steward)
    first = [HEADER, *(f"{person_id(n)},人员{n},1,01,1990-03-07,341002" for n in range(1, 6))]
    load(session, steward, resources.population, write(tmp_path, "v1.csv", first))
    second = [
        HEADER,
        f"{person_id(1)},人员1,1,01,1990-03-07,341002",  # unchanged
        f"{person_id(2)},人员2改名,1,01,1990-03-07,341002",  # updated
        f"{person_id(3)},人员3,2,01,1990-03-07,341002",  # updated
        f"{person_id(6)},人员6,1,01,1990-03-07,341002",  # inserted; 4 and 5 are gone
    ]
    done = load(session, steward, resources.population, write(tmp_path, "v2.csv", second))
    assert counts(done) == {
        "read": 4, "loaded": 4, "rejected": 0, "inserted": 1, "updated": 2, "deleted": 2, "unchanged": 1,
    }  # fmt: skip
    assert done.data_version == 2
    assert sorted(changes(session, resources.population)) == sorted(
        [
            (2, "I", person_id(6)),
            (2, "U", person_id(2)),
            (2, "U", person_id(3)),
            (2, "D", person_id(4)),
            (2, "D", person_id(5)),
        ]
    )
    assert [r[0] for r in rows(session, resources.population)] == sorted(person_id(n) for n in (1, 2, 3, 6))


def test_incremental_loads_upsert_and_delete_by_key(
    session: Session, org: Org, resources: Resources, tmp_path: Path
) -> None:
    steward = org.principal(org.steward)
    load(
        session,
        steward,
        resources.population,
        write(
            tmp_path,
            "v1.csv",
            [HEADER, *(f"{person_id(n)},人员{n},1,01,1990-03-07,341002" for n in range(1, 4))],
        ),
    )
    delta = write(
        tmp_path,
        "delta.csv",
        [
            HEADER + ",操作类型",
            f"{person_id(1)},人员1,2,01,1990-03-07,341002,",  # updated (sex)
            f"{person_id(2)},人员2,1,01,1990-03-07,341002,U",  # the same as stored: unchanged
            f"{person_id(3)},,,,,,D",  # deleted: only the key is needed
            f"{person_id(9)},人员9,2,01,1990-03-07,341002,新增",  # inserted
            f"{person_id(8)},,,,,,删除",  # nothing to delete: unchanged
        ],
    )
    done = load(session, steward, resources.population, delta, mode="incremental")
    assert done.status == "succeeded", done.error_message
    assert counts(done) == {
        "read": 5, "loaded": 5, "rejected": 0, "inserted": 1, "updated": 1, "deleted": 1, "unchanged": 2,
    }  # fmt: skip
    assert rows(session, resources.population) == sorted(
        [(person_id(1), "人员1", "2"), (person_id(2), "人员2", "1"), (person_id(9), "人员9", "2")]
    )
    assert sorted(changes(session, resources.population)) == sorted(
        [(2, "U", person_id(1)), (2, "D", person_id(3)), (2, "I", person_id(9))]
    )
    data = session.scalar(select(ResourceData).where(ResourceData.resource_id == resources.population.id))
    assert data is not None and data.row_count == 3 and data.data_version == 2


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_a_repeated_key_keeps_the_first_row_and_rejects_the_later_ones_across_batches(
    session: Session, org: Org, resources: Resources, tmp_path: Path, mode: str
) -> None:
    lines = [HEADER, *(f"{person_id(n)},人员{n},1,01,1990-03-07,341002" for n in range(1, 8))]
    lines.append(f"{person_id(2)},重复的人员2,2,01,1990-03-07,341002")  # line 9 repeats line 3
    lines.append(f"{person_id(7)},重复的人员7,2,01,1990-03-07,341002")  # line 10 repeats line 8, same batch
    done = load(
        session,
        org.principal(org.steward),
        resources.population,
        write(tmp_path, "dup.csv", lines),
        mode=mode,
        batch_rows=3,
    )
    assert done.status == "succeeded", done.error_message
    assert (done.read_count, done.loaded_count, done.rejected_count) == (9, 7, 2)
    stored = dict((k, n) for k, n, _ in rows(session, resources.population))
    assert stored[person_id(2)] == "人员2" and stored[person_id(7)] == "人员7"
    rejects = {
        r.row_number: r.reasons[0] for r in session.scalars(select(Reject).where(Reject.load_id == done.id))
    }
    assert set(rejects) == {9, 10}
    assert rejects[9]["rule"] == "key_unique" and "第 3 行" in rejects[9]["message"]
    assert "第 8 行" in rejects[10]["message"]


def test_a_failure_mid_load_leaves_the_previous_version_and_the_load_can_be_run_again(
    session: Session, org: Org, resources: Resources, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steward = org.principal(org.steward)
    v1 = [HEADER, *(f"{person_id(n)},人员{n},1,01,1990-03-07,341002" for n in range(1, 4))]
    load(session, steward, resources.population, write(tmp_path, "v1.csv", v1))
    before = rows(session, resources.population)
    v2 = write(
        tmp_path, "v2.csv", [HEADER, *(f"{person_id(n)},新{n},2,01,1990-03-07,341002" for n in range(1, 10))]
    )

    original = dataplane.Writer.write
    calls = {"n": 0}

    def crash_on_second_batch(self: dataplane.Writer, *args: Any, **kwargs: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("磁盘已满（测试注入）")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(dataplane.Writer, "write", crash_on_second_batch)
    failed_ids = []
    for mode in ("full", "incremental"):
        calls["n"] = 0
        failed = load(session, steward, resources.population, v2, mode=mode, batch_rows=3)
        assert (
            failed.status == "failed"
            and failed.error_code == "internal_error"
            and "磁盘已满" in failed.error_message
        )
        assert failed.data_version is None and failed.read_count == 0
        assert rows(session, resources.population) == before  # not one row of the failed load is visible
        assert session.scalars(select(Reject).where(Reject.load_id == failed.id)).all() == []
        failed_ids.append(failed.id)
    data = session.scalar(select(ResourceData).where(ResourceData.resource_id == resources.population.id))
    assert data is not None and data.data_version == 1
    table = data.table_name
    leftovers = [
        name
        for name in (f"{table}__l{failed_ids[0]}", f"{table}__s{failed_ids[1]}")
        if dataplane.Writer(session, data, [], 0, 0).table_exists(name)
    ]
    assert leftovers == []

    monkeypatch.setattr(dataplane.Writer, "write", original)
    again = load(session, steward, resources.population, v2, batch_rows=3)
    assert (
        again.status == "succeeded"
        and again.data_version == 2
        and again.updated_count == 3
        and again.inserted_count == 6
    )


def test_both_departments_sex_codes_end_as_the_national_standard(
    session: Session, org: Org, resources: Resources, tmp_path: Path
) -> None:
    """Seed 003: 公安 writes 0=男 1=女, 民政 writes 1=男 2=女; both must end as GB/T 2261.1 1/2."""
    police = Mapping(
        resource_id=resources.population.id, name="公安人口库", values={"xbdm": {"0": "1", "1": "2"}}
    )
    session.add(police)
    session.flush()
    ga = write(
        tmp_path,
        "ga.csv",
        [
            HEADER,
            f"{person_id(1)},张三,0,01,1990-03-07,341002",
            f"{person_id(2)},李梅,1,01,1990-03-07,341002",
        ],
        "gbk",
    )
    mz = write(
        tmp_path,
        "mz.csv",
        ["公民身份号码,姓名,性别代码", f"{person_id(1)},张三,1", f"{person_id(2)},李梅,2"],
        "gbk",
    )
    done_ga = load(session, org.principal(org.steward), resources.population, ga, mapping=police)
    done_mz = load(session, org.principal(org.civil_steward), resources.assistance, mz)
    assert done_ga.encoding == done_mz.encoding == "GB18030"
    assert (
        rows(session, resources.population)
        == rows(session, resources.assistance)
        == [
            (person_id(1), "张三", "1"),
            (person_id(2), "李梅", "2"),
        ]
    )


def test_only_the_provider_and_operators_load_and_only_into_published_resources(
    session: Session, org: Org, resources: Resources, tmp_path: Path
) -> None:
    with pytest.raises(Forbidden):
        pipeline.start_load(session, resources.population, org.principal(org.civil_steward), mode="full")
    with pytest.raises(Forbidden):
        pipeline.start_load(session, resources.population, org.principal(org.consumer), mode="full")
    pipeline.start_load(session, resources.population, org.principal(org.operator), mode="full")
    resources.population.published_version = None
    with pytest.raises(ValidationFailed) as refused:
        pipeline.start_load(session, resources.population, org.principal(org.steward), mode="full")
    assert refused.value.code == "resource_not_published"


def test_missing_columns_fail_the_load_with_what_to_fix(
    session: Session, org: Org, resources: Resources, tmp_path: Path
) -> None:
    path = write(tmp_path, "no_key.csv", ["姓名,性别代码", "张三,1"])
    done = load(session, org.principal(org.steward), resources.population, path)
    assert done.status == "failed" and done.error_code == "columns_missing"
    assert "公民身份号码" in done.error_message


def test_interrupted_loads_are_marked_failed_for_a_rerun(
    session: Session, org: Org, resources: Resources
) -> None:
    started = pipeline.start_load(session, resources.population, org.principal(org.steward), mode="full")
    started.stats = {"worker": "this-host-is-gone:1"}
    started.started_at = started.started_at - pipeline.STALE_AFTER * 2
    assert pipeline.recover_interrupted(session) == 1
    assert started.status == "failed" and started.error_code == "load_interrupted"
