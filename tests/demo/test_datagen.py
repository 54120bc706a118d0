"""``jutong demo data``: deterministic test data whose bad rows are known one by one.

The story: a benchmark or an ingest test generates a file for a demo resource, loads it, and asserts that
exactly the rows the manifest lists as bad are rejected (each for its one reason), that the fixable rows
load once normalized, and that a change file gives exactly the inserted/updated/deleted counts it promises.
Everything is checked against the platform's own scalar rules (``jutong.standards.codes``) and normalizers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
from typer.testing import CliRunner

from jutong.cli.main import app
from jutong.core.errors import ValidationFailed
from jutong.demo import datagen
from jutong.demo.catalog import REGISTRY
from jutong.demo.datagen import ChangeOptions, DataOptions, DateStyle, Encoding, FileFormat, Header, SexStyle
from jutong.standards import codes
from jutong.standards.normalize import halfwidth, parse_date

ROWS = 3000  # 60 bad rows at the default 2 %: every kind of every resource appears several times


def _generate(tmp_path: Path, name: str = "data.csv", **kwargs: Any) -> tuple[Path, dict[str, Any]]:
    path = tmp_path / name
    return path, datagen.generate(path, DataOptions(**kwargs))


def _read(path: Path, manifest: dict[str, Any]) -> pl.DataFrame:
    """The file as the ingest reads it: every column a string, empty cells null, named by column."""
    columns = [c["column"] for c in manifest["columns"]]
    fmt = manifest["file"]["format"]
    if fmt == "ndjson":
        frame = pl.read_ndjson(path, infer_schema_length=None)
    elif fmt == "xlsx":
        frame = pl.read_excel(path, infer_schema_length=0)
    else:
        frame = pl.read_csv(path, infer_schema=False, separator="\t" if fmt == "tsv" else ",")
    return frame.select(pl.all().cast(pl.String)).rename(
        dict(zip(frame.columns[: len(columns)], columns, strict=True))
    )


def _special_rows(manifest: dict[str, Any]) -> set[int]:
    return {r for group in ("bad", "fixable") for entry in manifest[group].values() for r in entry["rows"]}


def _rules(column: str, spec: datagen.ResourceSpec) -> datagen.Column:
    return next(c for c in spec.columns if c.column == column)


# ---- the same arguments give the same bytes ---------------------------------------------------------


def test_the_same_arguments_give_the_same_bytes_whatever_the_chunk_size(tmp_path: Path) -> None:
    first, _ = _generate(tmp_path, "a.csv", rows=3000)
    second, _ = _generate(tmp_path, "b.csv", rows=3000, chunk_rows=1111)
    assert first.read_bytes() == second.read_bytes()
    assert datagen.manifest_path(first).read_text(encoding="utf-8").replace('"a.csv"', '"b.csv"') == (
        datagen.manifest_path(second).read_text(encoding="utf-8")
    )
    other, _ = _generate(tmp_path, "c.csv", rows=3000, seed=6)
    assert other.read_bytes() != first.read_bytes()
    # a guard against a silent change of the streams (e.g. a polars upgrade): seed 5's first person
    assert first.read_text(encoding="utf-8").splitlines()[1].startswith("341003201207235472,")


def test_a_row_is_the_same_person_in_every_resource(tmp_path: Path) -> None:
    population = pl.concat(datagen.iter_rows(DataOptions(rows=2000, bad_share=0, fixable_share=0)))
    subsistence = pl.concat(
        datagen.iter_rows(DataOptions(resource="最低生活保障对象信息", rows=60, bad_share=0, fixable_share=0))
    )
    insurance = pl.concat(
        datagen.iter_rows(DataOptions(resource="社会保险参保信息", rows=600, bad_share=0, fixable_share=0))
    )
    people = {r["gmsfhm"]: r for r in population.to_dicts()}
    for row in subsistence.to_dicts():  # 低保对象 are residents, with the same name, birth date and address
        resident = people[row["gmsfhm"]]
        assert (row["xm"], row["csrq"], row["jzdz"]) == (resident["xm"], resident["csrq"], resident["jzdz"])
    assert set(insurance["gmsfhm"]) <= set(people)
    assert insurance.group_by("gmsfhm").len()["len"].unique().to_list() == [3]  # 养老、失业、工伤


# ---- clean rows pass every rule; each bad row fails exactly its own -----------------------------------


@pytest.mark.parametrize("resource", datagen.RESOURCES)
def test_every_clean_row_passes_the_platforms_rules(tmp_path: Path, resource: str) -> None:
    path, manifest = _generate(tmp_path, resource=resource, rows=ROWS, header=Header.column)
    spec = datagen.resource_spec(resource)
    frame = _read(path, manifest)
    assert frame.height == ROWS
    special = {r - manifest["first_row"] for r in _special_rows(manifest)}
    clean = frame.with_row_index("i").filter(~pl.col("i").is_in(list(special))).drop("i")
    assert clean.height == ROWS - len(special)
    assert clean.select(spec.keys).is_duplicated().sum() == 0
    male, female = datagen.SEX_CODES[DataOptions().sex_style(spec)]
    for column in spec.columns:
        values = clean[column.column].to_list()
        assert all(values), f"{column.name} 有空值"
        if column.validator:
            assert all(map(codes.VALIDATORS[column.validator], values)), column.name
        if column.length and column.data_type == "C":
            assert max(map(len, values)) <= column.length, column.name
        if column.data_type == "D":
            assert all(map(parse_date, values)), column.name
        if column.element == "DE0003":
            assert set(values) == {male, female}
        elif column.code_set:
            assert set(values) <= datagen.code_values(column.code_set), column.name
    if "xbdm" in clean.columns:  # the sex code agrees with the 17th digit of the ID number
        for person in clean.select("gmsfhm", "xbdm", "csrq").iter_rows():
            assert (int(person[0][16]) % 2 == 1) == (person[1] == male)
            assert parse_date(person[2]).strftime("%Y%m%d") == person[0][6:14]  # type: ignore[union-attr]


def _fails(kind: str, value: str | None, column: datagen.Column, style: SexStyle) -> bool:
    """Whether ``value`` breaks the rule a bad row of ``kind`` is about (the scalar twin of the ingest's)."""
    if kind == "missing":
        return value is None
    assert value is not None
    if kind == "id_check":
        return not codes.is_valid_cn_id(value) and codes.cn_id_check_char(value[:17]) != value[17]
    if kind == "id_birth":
        return not codes.is_valid_cn_id(value) and codes.cn_id_check_char(value[:17]) == value[17]
    if kind == "code_set":
        allowed = (
            set(datagen.SEX_CODES[style])
            if column.element == "DE0003"
            else datagen.code_values(column.code_set)
        )
        return value not in allowed and value not in datagen.code_values(column.code_set)
    if kind == "too_long":
        return len(value) > (column.length or 0)
    if kind == "bad_date":
        return parse_date(value) is None
    if kind == "formula":
        return value[0] in "=+@" or (value[0] == "-" and not value[1:2].isdigit())
    if kind == "uscc_check":
        return not codes.is_valid_uscc(value)
    if kind == "mobile":
        return not codes.is_valid_mobile(value)
    if kind == "region":
        return not codes.is_valid_region_code(value)
    raise AssertionError(kind)


@pytest.mark.parametrize("resource", datagen.RESOURCES)
def test_each_bad_row_breaks_exactly_one_rule_and_fixable_rows_normalize_to_the_clean_value(
    tmp_path: Path, resource: str
) -> None:
    path, manifest = _generate(tmp_path, resource=resource, rows=ROWS, header=Header.column)
    spec = datagen.resource_spec(resource)
    style = DataOptions().sex_style(spec)
    frame = _read(path, manifest).to_dicts()
    truth = pl.concat(
        datagen.iter_rows(DataOptions(resource=resource, rows=ROWS, bad_share=0, fixable_share=0))
    ).to_dicts()
    first = manifest["first_row"]
    touched: dict[int, set[str]] = {}
    for kind, entry in manifest["bad"].items():
        if kind == "duplicate":  # a valid key, only seen before: checked below
            continue
        for column, rows in entry["by_column"].items():
            for row in rows:
                value = frame[row - first][column]
                assert _fails(kind, value, _rules(column, spec), style), (kind, row, value)
                touched.setdefault(row, set()).add(column)
    for row, earlier in zip(
        manifest["bad"]["duplicate"]["rows"], manifest["bad"]["duplicate"]["first_rows"], strict=True
    ):
        assert earlier < row and earlier not in touched
        assert all(frame[row - first][k] == frame[earlier - first][k] for k in spec.keys)
        touched[row] = set(spec.keys)
    for kind, entry in manifest["fixable"].items():
        for column, rows in entry["by_column"].items():
            for row in rows:
                raw, clean = frame[row - first][column], truth[row - first][column]
                assert raw != clean
                fixed = halfwidth(raw).strip().upper()
                if kind == "id15":
                    fixed = codes.upgrade_cn_id_15(fixed)
                assert fixed == clean, (kind, raw)
                touched[row] = {column}
    # everything else is exactly the clean row: one problem per bad row, so rejected == bad_total
    for n, (got, want) in enumerate(zip(frame, truth, strict=True)):
        differing = {c for c in got if got[c] != want[c]}
        assert differing <= touched.get(n + first, set()), (n + first, differing)


def test_the_manifest_counts_add_up_and_every_kind_gets_its_share(tmp_path: Path) -> None:
    _, manifest = _generate(tmp_path, resource="最低生活保障对象信息", rows=10_000, bad_share=0.03)
    bad = manifest["bad"]
    assert set(bad) == set(datagen.BAD_KINDS) - {"uscc_check"}  # 低保 has no credit code
    counts = [entry["count"] for entry in bad.values()]
    assert sum(counts) == manifest["bad_total"] == 300 and max(counts) - min(counts) <= 1
    assert manifest["fixable_total"] == 50 and set(manifest["fixable"]) <= set(datagen.FIXABLE_KINDS)
    assert manifest["expected"] == {"read": 10_000, "loaded": 9_700, "rejected": 300}
    rows = [r for entry in bad.values() for r in entry["rows"]]
    assert len(set(rows)) == len(rows) and min(rows) >= 2 and max(rows) <= 10_001  # CSV lines, header is 1
    assert (
        manifest["sex_codes"] == {"男": "1", "女": "2"}
        and manifest["resource"]["demo_code"] == "307002/000001"
    )
    # spread over the file, not bunched at its start
    assert sum(r < 5_000 for r in rows) == pytest.approx(150, abs=10)


# ---- providers' styles and file formats -------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "style", "codes_seen"),
    [
        ("常住人口基础信息", None, {"0", "1"}),  # 公安: 0=男 1=女
        ("最低生活保障对象信息", None, {"1", "2"}),  # 民政: 1=男 2=女
        ("常住人口基础信息", SexStyle.standard, {"1", "2"}),
        ("最低生活保障对象信息", SexStyle.ga, {"0", "1"}),
    ],
)
def test_sex_codes_are_written_in_the_providers_own_style(
    resource: str, style: SexStyle | None, codes_seen: set[str]
) -> None:
    frame = pl.concat(
        datagen.iter_rows(DataOptions(resource=resource, rows=500, style=style, bad_share=0, fixable_share=0))
    )
    assert set(frame["xbdm"]) == codes_seen
    male = datagen.SEX_CODES[
        style or datagen.PROVIDER_STYLE[datagen.resource_spec(resource).department_code]
    ][0]
    assert all((int(i[16]) % 2 == 1) == (s == male) for i, s in frame.select("gmsfhm", "xbdm").iter_rows())


def test_mixed_dates_are_written_the_ways_providers_write_them() -> None:
    frame = pl.concat(
        datagen.iter_rows(DataOptions(rows=400, dates=DateStyle.mixed, bad_share=0, fixable_share=0))
    )
    shapes = {
        "年月日": r"^\d{4}年\d{1,2}月\d{1,2}日$",
        "compact": r"^\d{8}$",
        "slash": r"^\d{4}/\d{1,2}/\d{1,2}$",
        "dash": r"^\d{4}-\d{1,2}-\d{1,2}$",
    }
    for name, pattern in shapes.items():
        assert frame["csrq"].str.contains(pattern).any(), name
    for birth, id_number in frame.select("csrq", "gmsfhm").iter_rows():
        assert parse_date(birth).strftime("%Y%m%d") == id_number[6:14]  # type: ignore[union-attr]


def test_gbk_and_bom_files_decode_in_their_encoding_with_the_same_rows(tmp_path: Path) -> None:
    utf8, manifest = _generate(tmp_path, "u.csv", resource="最低生活保障对象信息", rows=2000)
    gbk, _ = _generate(tmp_path, "g.csv", resource="最低生活保障对象信息", rows=2000, encoding=Encoding.gbk)
    bom, _ = _generate(
        tmp_path, "b.csv", resource="最低生活保障对象信息", rows=2000, encoding=Encoding.utf8_sig
    )
    text = utf8.read_text(encoding="utf-8")
    assert gbk.read_bytes().decode("gbk") == text
    assert bom.read_bytes().startswith(b"\xef\xbb\xbf") and bom.read_text(encoding="utf-8-sig") == text
    assert text.splitlines()[0] == ",".join(c["name"] for c in manifest["columns"])  # 信息项名称
    with pytest.raises(UnicodeDecodeError):
        gbk.read_bytes().decode("utf-8")
    for resource in datagen.RESOURCES:  # every name, address and enterprise text has a GBK code
        next(datagen.iter_rows(DataOptions(resource=resource, rows=3000))).write_csv().encode("gbk")


def test_xlsx_opens_with_the_same_rows_and_formula_cells_stay_text(tmp_path: Path) -> None:
    csv_path, manifest = _generate(tmp_path, "e.csv", resource="企业登记信息", rows=1500)
    xlsx_path, xlsx_manifest = _generate(
        tmp_path, "e.xlsx", resource="企业登记信息", rows=1500, file_format=FileFormat.xlsx
    )
    assert xlsx_manifest["bad"] == manifest["bad"] and xlsx_manifest["first_row"] == 2
    book = openpyxl.load_workbook(xlsx_path, read_only=True)
    sheet = book.worksheets[0]
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    book.close()
    assert cells[0] == [c["name"] for c in manifest["columns"]]
    assert cells[1:] == [list(r) for r in _read(csv_path, manifest).iter_rows()]
    for row in manifest["bad"]["formula"]["rows"]:  # Excel row = CSV line
        value = cells[row - 1][1]
        assert isinstance(value, str) and value[0] in "=+@"


def test_ndjson_and_tsv_carry_the_same_rows_with_their_own_row_numbers(tmp_path: Path) -> None:
    csv_path, manifest = _generate(tmp_path, "p.csv", rows=1000, header=Header.column)
    nd_path, nd_manifest = _generate(tmp_path, "p.ndjson", rows=1000, file_format=FileFormat.ndjson)
    tsv_path, tsv_manifest = _generate(tmp_path, "p.tsv", rows=1000, file_format=FileFormat.tsv)
    expected = _read(csv_path, manifest)
    assert _read(nd_path, nd_manifest).equals(expected) and _read(tsv_path, tsv_manifest).equals(expected)
    assert nd_manifest["first_row"] == 1  # NDJSON: record numbers from 1
    assert [r - 1 for r in nd_manifest["bad"]["missing"]["rows"]] == [
        r - 2 for r in manifest["bad"]["missing"]["rows"]
    ]
    record = json.loads(nd_path.read_text(encoding="utf-8").splitlines()[0])
    assert list(record) == [c["name"] for c in manifest["columns"]]


def test_the_generator_follows_the_demo_catalogs_items() -> None:
    for name in datagen.RESOURCES:
        resource = next(r for r in REGISTRY if r.name == name)
        items = resource.second.get("items") or resource.items  # the latest published version
        spec = datagen.resource_spec(name)
        assert [(c.name, c.column, c.key) for c in spec.columns] == [(i.name, i.column, i.key) for i in items]
        frame = next(datagen.iter_rows(DataOptions(resource=name, rows=5)))
        assert frame.columns == [c.column for c in spec.columns]
    assert datagen.resource_spec("101001/000001").name == "常住人口基础信息"
    assert datagen.resource_spec("enterprise").keys == ["tyshxydm"]
    assert datagen.resource_spec("社会保险参保信息").keys == ["gmsfhm", "xzlx"]


def test_impossible_requests_are_refused_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as caught:
        datagen.generate(tmp_path / "x.xlsx", DataOptions(rows=2_000_000, file_format=FileFormat.xlsx))
    assert caught.value.code == "datagen_xlsx_rows" and "CSV" in caught.value.message
    with pytest.raises(ValidationFailed) as caught:
        datagen.generate(
            tmp_path / "x.ndjson", DataOptions(rows=10, file_format=FileFormat.ndjson, encoding=Encoding.gbk)
        )
    assert caught.value.code == "datagen_encoding"
    with pytest.raises(ValidationFailed) as caught:
        datagen.resource_spec("婚姻登记信息")
    assert caught.value.code == "datagen_resource" and "常住人口基础信息" in caught.value.message


# ---- change files -----------------------------------------------------------------------------------


def _loaded(
    frame: list[dict[str, Any]], manifest: dict[str, Any], keys: list[str]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """What a correct full load of the base file keeps: clean and fixable rows, the first of duplicates."""
    bad = {r for entry in manifest["bad"].values() for r in entry["rows"]}
    kept: dict[tuple[Any, ...], dict[str, Any]] = {}
    for n, row in enumerate(frame):
        if n + manifest["first_row"] not in bad:
            normalized = {c: None if v is None else halfwidth(v).strip().upper() for c, v in row.items()}
            first_key = normalized[keys[0]]
            if first_key is not None and len(first_key) == 15:
                normalized[keys[0]] = codes.upgrade_cn_id_15(first_key)
            kept.setdefault(tuple(normalized[k] for k in keys), normalized)
    return kept


@pytest.mark.parametrize("resource", ["常住人口基础信息", "社会保险参保信息", "企业登记信息"])
def test_a_change_file_updates_inserts_and_deletes_exactly_what_its_manifest_says(
    tmp_path: Path, resource: str
) -> None:
    base_path, base = _generate(tmp_path, "base.csv", resource=resource, rows=6000, header=Header.column)
    change_path = tmp_path / "changes.csv"
    options = DataOptions(resource=resource, header=Header.column)
    manifest = datagen.generate_changes(change_path, options, ChangeOptions(6000, change_share=0.05))
    assert manifest["expected"] == {
        "read": 480,
        "loaded": 480,
        "rejected": 0,
        "inserted": 150,
        "updated": 300,
        "deleted": 30,
        "unchanged": 0,
    }
    keys = datagen.resource_spec(resource).keys
    live = _loaded(_read(base_path, base).to_dicts(), base, keys)
    changes = pl.read_csv(change_path, infer_schema=False)
    assert changes.columns[-1] == "_op" and changes.height == manifest["rows"] == 480
    counts = {"inserted": 0, "updated": 0, "deleted": 0, "unchanged": 0}
    for n, row in enumerate(changes.to_dicts()):
        key = tuple(row[k] for k in keys)
        op = row.pop("_op")
        if op == "D":
            assert key in live and all(v is None for c, v in row.items() if c not in keys)
            assert n + 2 in manifest["deleted_rows"]
            del live[key]
            counts["deleted"] += 1
        elif key not in live:
            assert n + 2 in manifest["inserted_rows"]
            live[key] = row
            counts["inserted"] += 1
        else:
            assert n + 2 in manifest["updated_rows"]
            counts["updated" if live[key] != row else "unchanged"] += 1
            live[key] = row
    assert counts == {k: manifest["expected"][k] for k in counts}
    again = datagen.generate_changes(tmp_path / "again.csv", options, ChangeOptions(6000, change_share=0.05))
    assert (tmp_path / "again.csv").read_bytes() == change_path.read_bytes() and again[
        "expected"
    ] == manifest["expected"]


# ---- the command line -------------------------------------------------------------------------------

runner = CliRunner()


def test_jutong_demo_data_writes_the_file_its_manifest_and_a_chinese_summary(tmp_path: Path) -> None:
    out = tmp_path / "minzheng.csv"
    result = runner.invoke(
        app,
        [
            "demo",
            "data",
            "--rows",
            "2000",
            "--resource",
            "最低生活保障对象信息",
            "--encoding",
            "gbk",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "已生成最低生活保障对象信息 2,000 行：坏行 40" in result.output
    manifest = json.loads(datagen.manifest_path(out).read_text(encoding="utf-8"))
    assert manifest["args"]["encoding"] == "gbk" and manifest["expected"]["read"] == 2000
    assert out.read_bytes().decode("gbk").splitlines()[0].startswith("公民身份号码,姓名,性别代码")

    changes = tmp_path / "changes.ndjson"
    result = runner.invoke(
        app,
        [
            "demo",
            "data",
            "--changes-from",
            "2000",
            "--format",
            "ndjson",
            "--resource",
            "dibao",
            "--out",
            str(changes),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "更新 20、新增 10、删除 2" in result.output
    assert len(changes.read_text(encoding="utf-8").splitlines()) == 32


def test_jutong_demo_data_explains_what_is_wrong(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "data", "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "--rows" in result.output
    result = runner.invoke(
        app, ["demo", "data", "--rows", "5", "--resource", "不存在", "--out", str(tmp_path / "x.csv")]
    )
    assert result.exit_code == 2 and "不能为“不存在”生成测试数据" in result.output
    help_text = runner.invoke(app, ["demo", "--help"]).output
    assert "data" in help_text and "--no-serve" in help_text  # `jutong demo` still loads and serves
