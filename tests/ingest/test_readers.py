"""A department uploads its file: whatever it saved, the platform reads it or says exactly what is wrong.

Small chunk sizes (``chunk_bytes``) make the streamed paths of big files run on small ones.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import os
import threading
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
import xlsxwriter

from jutong.ingest.errors import IngestInputError
from jutong.ingest.readers import SourceInfo, open_file

HEADER = "身份证号,姓名 *,性别,出生日期,备注\n"
ROWS = [
    "11010119900307123X,张三,1,1990-03-07,\n",
    '110101199105051234,李四,2,1991-05-05,"住址：北京市,东城区"\n',
    '110101199206061234,王五,1,1992-06-06,"说""你好"""\n',
]


def write(tmp_path: Path, data: bytes | str, name: str = "upload.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def read(path: Path, **options: Any) -> tuple[SourceInfo, list[pl.DataFrame]]:
    with open_file(path, **options) as source:
        return source.info, list(source.batches)


def rows(batches: list[pl.DataFrame]) -> list[dict[str, Any]]:
    return [row for batch in batches for row in batch.iter_rows(named=True)]


def problem(path: Path, **options: Any) -> IngestInputError:
    with pytest.raises(IngestInputError) as caught:
        read(path, **options)
    return caught.value


# ---- encodings -------------------------------------------------------------------------------


def test_a_utf8_csv_reads_as_text_columns_with_the_line_each_row_is_on(tmp_path: Path) -> None:
    info, batches = read(write(tmp_path, HEADER + "".join(ROWS)))

    assert (info.file_format, info.encoding) == ("csv", "UTF-8")
    assert info.columns == ["身份证号", "姓名", "性别", "出生日期", "备注"]  # the required-mark * is dropped
    assert info.size_bytes == (tmp_path / "upload.csv").stat().st_size
    frame = pl.concat(batches)
    assert frame.schema == pl.Schema({**dict.fromkeys(info.columns, pl.String), "_row": pl.Int64})
    assert rows(batches) == [
        {"身份证号": "11010119900307123X", "姓名": "张三", "性别": "1", "出生日期": "1990-03-07", "备注": None, "_row": 2},
        {"身份证号": "110101199105051234", "姓名": "李四", "性别": "2", "出生日期": "1991-05-05",
         "备注": "住址：北京市,东城区", "_row": 3},
        {"身份证号": "110101199206061234", "姓名": "王五", "性别": "1", "出生日期": "1992-06-06",
         "备注": '说"你好"', "_row": 4},
    ]  # fmt: skip


def test_excel_utf8_with_bom_is_recognised_and_the_bom_is_not_part_of_the_first_name(tmp_path: Path) -> None:
    info, batches = read(write(tmp_path, b"\xef\xbb\xbf" + (HEADER + ROWS[0]).encode()))

    assert info.encoding == "UTF-8 (BOM)"
    assert info.columns[0] == "身份证号"
    assert rows(batches)[0]["姓名"] == "张三"


def test_a_gbk_csv_from_a_windows_office_is_read_as_gb18030(tmp_path: Path) -> None:
    data = (HEADER + "".join(ROWS)).replace("\n", "\r\n").encode("gbk")
    info, batches = read(write(tmp_path, data))

    assert info.encoding == "GB18030"
    assert [r["姓名"] for r in rows(batches)] == ["张三", "李四", "王五"]
    assert rows(batches)[1]["备注"] == "住址：北京市,东城区"
    assert [r["_row"] for r in rows(batches)] == [2, 3, 4]


def test_a_name_with_a_four_byte_gb18030_character_survives(tmp_path: Path) -> None:
    rare = "𠀀"  # CJK Extension B: not in GBK, four bytes in GB18030
    data = f"姓名,民族\n{rare}明,汉族\n李四,回族\n".encode("gb18030")
    assert len(rare.encode("gb18030")) == 4

    info, batches = read(write(tmp_path, data), chunk_bytes=8)

    assert info.encoding == "GB18030"
    assert [r["姓名"] for r in rows(batches)] == [f"{rare}明", "李四"]


def test_a_gbk_file_whose_start_is_plain_ascii_is_recognised_at_its_first_chinese_text(
    tmp_path: Path,
) -> None:
    lines = ["id,name,note\n"] + [f"{i},person{i},ok\n" for i in range(1, 40)] + ["40,张三,户籍迁入\n"]
    info, batches = read(write(tmp_path, "".join(lines).encode("gbk")), chunk_bytes=64)

    assert info.encoding == "GB18030"
    last = rows(batches)[-1]
    assert (last["name"], last["note"], last["_row"]) == ("张三", "户籍迁入", 41)


def test_a_tab_separated_file_is_read_as_tsv(tmp_path: Path) -> None:
    info, batches = read(write(tmp_path, "姓名\t性别\t备注\n张三\t1\t含,逗号\n李四\t2\t\n"))

    assert info.file_format == "tsv"
    assert [(r["姓名"], r["备注"]) for r in rows(batches)] == [("张三", "含,逗号"), ("李四", None)]


# ---- streaming: chunks, batches, line numbers ------------------------------------------------


def awkward_csv(count: int) -> str:
    """Records with quoted commas, quotes and line breaks (some CRLF), blank lines between some."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["编号", "姓名", "备注"])
    for i in range(count):
        note = ["", "普通", "含,逗号", '含"引号"', "第一行\n第二行", "多行\r\n地址\n第三行"][i % 6]
        writer.writerow([f"{i:04d}", f"居民{i}", note])
        if i % 17 == 5:
            out.write("\n")
    return out.getvalue()


def expected_records(text: str) -> list[dict[str, Any]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    names = next(reader)
    records, consumed = [], reader.line_num
    for fields in reader:
        start, consumed = consumed + 1, reader.line_num
        if fields:
            records.append({**dict(zip(names, [f or None for f in fields], strict=True)), "_row": start})
    return records


@pytest.mark.parametrize("chunk_bytes", [5, 37, 256, 1 << 20])
def test_quoted_commas_and_line_breaks_across_chunk_edges_keep_values_and_line_numbers(
    tmp_path: Path, chunk_bytes: int
) -> None:
    text = awkward_csv(120)
    path = write(tmp_path, text)

    _, batches = read(path, chunk_bytes=chunk_bytes, batch_rows=25)

    assert rows(batches) == expected_records(text)
    assert [b.height for b in batches] == [25, 25, 25, 25, 20]
    # a record with a quoted line break is numbered by the line it starts on, as an editor shows it
    third_line_records = [r for r in rows(batches) if r["备注"] and r["备注"].startswith("多行")]
    first = third_line_records[0]
    assert text.split("\n")[first["_row"] - 1].startswith(f"{first['编号']},")


def test_blank_lines_are_skipped_and_the_other_rows_keep_their_line_numbers(tmp_path: Path) -> None:
    text = "姓名,性别\n张三,1\n\n\n李四,2\n,\n王五,1\n\n"
    _, batches = read(write(tmp_path, text), chunk_bytes=4, batch_rows=2)

    assert [(r["姓名"], r["_row"]) for r in rows(batches)] == [("张三", 2), ("李四", 5), ("王五", 7)]


def test_a_big_upload_comes_in_batches_of_the_asked_size(tmp_path: Path) -> None:
    text = "编号,姓名\n" + "".join(f"{i},居民{i}\n" for i in range(1, 1001))
    _, batches = read(write(tmp_path, text), chunk_bytes=1000, batch_rows=300)

    assert [b.height for b in batches] == [300, 300, 300, 100]
    assert pl.concat(batches)["_row"].to_list() == list(range(2, 1002))
    assert pl.concat(batches)["编号"].to_list() == [str(i) for i in range(1, 1001)]


def test_a_reader_stopped_after_its_first_batch_lets_go_of_its_thread_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "编号,姓名\n" + "".join(f"{i},居民{i}\n" for i in range(1, 5001)))
    source = open_file(path, chunk_bytes=512, batch_rows=100)

    first = next(iter(source))
    assert any(t.name == "jutong-ingest-reader" for t in threading.enumerate())
    assert path in open_files()
    source.close()

    assert first["_row"].to_list()[:2] == [2, 3]
    assert not any(t.name == "jutong-ingest-reader" for t in threading.enumerate())
    assert path not in open_files()


def open_files() -> set[Path]:
    """The files this process has open (Linux)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.add(Path(os.readlink(f"/proc/self/fd/{fd}")))
        except OSError:  # the descriptor that listed the directory is gone already
            continue
    return found


# ---- header problems --------------------------------------------------------------------------


def test_header_names_are_trimmed_and_normalised_and_empty_trailing_ones_ignored(tmp_path: Path) -> None:
    info, batches = read(write(tmp_path, " 身份证号 ,姓名（全称）＊,性别,,\n1,张三,2,,\n"))

    assert info.columns == ["身份证号", "姓名(全称)", "性别"]
    assert rows(batches) == [{"身份证号": "1", "姓名(全称)": "张三", "性别": "2", "_row": 2}]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("\n张三,1\n", "没有找到表头"),
        ("姓名,,性别\n张三,x,1\n", "第 2 列的列名为空"),
        ("姓名,性别,姓名 *\n张三,1,李四\n", "“姓名”重复"),
        ("_row,姓名\n1,张三\n", "系统保留"),
    ],
)
def test_a_header_that_cannot_name_the_columns_is_refused(tmp_path: Path, content: str, words: str) -> None:
    error = problem(write(tmp_path, content))

    assert error.code == "file_header"
    assert words in error.message


def test_data_under_a_column_without_a_name_is_refused_not_dropped(tmp_path: Path) -> None:
    error = problem(write(tmp_path, "姓名,性别,\n张三,1,\n李四,2,补充说明\n"))

    assert error.code == "file_header"
    assert (error.line, error.detail["column"]) == (3, 3)
    assert "第 3 列没有列名" in error.message


# ---- bad files --------------------------------------------------------------------------------


def test_a_row_with_more_fields_than_the_header_is_named_by_its_line(tmp_path: Path) -> None:
    text = "姓名,性别\n" + "".join(f"居民{i},1\n" for i in range(30)) + "张三,1,多余\n李四,2\n"
    error = problem(write(tmp_path, text), chunk_bytes=32)

    assert error.code == "file_columns"
    assert error.line == 32
    assert "第 32 行有 3 列，多于表头的 2 列" in error.message


def test_a_file_cut_off_in_its_last_line_is_called_truncated(tmp_path: Path) -> None:
    text = HEADER + "".join(ROWS) + "110101199307071234,赵六"
    error = problem(write(tmp_path, text), chunk_bytes=16)

    assert error.code == "file_truncated"
    assert error.line == 5
    assert "最后一行（第 5 行）只有 2 列" in error.message


def test_a_file_cut_off_inside_a_quoted_field_is_called_truncated(tmp_path: Path) -> None:
    text = HEADER + "".join(ROWS) + '110101199307071234,赵六,2,1993-07-07,"地址：北京市\n东城'
    error = problem(write(tmp_path, text), chunk_bytes=16)

    assert error.code == "file_truncated"
    assert error.line == 5
    assert "双引号直到文件结尾都没有闭合" in error.message


def test_a_gbk_line_in_a_utf8_file_is_named_as_mixed_encoding(tmp_path: Path) -> None:
    before = (HEADER + "".join(ROWS * 10)).encode("utf-8")
    gbk_line = "110101199307071234,赵六,2,1993-07-07,户籍迁入\n".encode("gbk")
    after = "".join(ROWS).encode("utf-8")
    path = write(tmp_path, before + gbk_line + after)

    for chunk_bytes in (50, 1 << 20):
        error = problem(path, chunk_bytes=chunk_bytes)
        assert error.code == "file_encoding"
        assert error.line == 32
        assert "第 32 行附近的内容不是 UTF-8 编码" in error.message


def test_a_file_in_neither_utf8_nor_gbk_is_refused_with_how_to_save_it(tmp_path: Path) -> None:
    error = problem(write(tmp_path, b"\xff\xfe" + "姓名,性别\n".encode("utf-16-le")))

    assert error.code == "file_encoding"
    assert "UTF-16" in error.message


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "0 字节"),
        (b"  \r\n\n\t\n", "只有空白"),
        (b"\xef\xbb\xbf", "只有空白"),
        ("姓名,性别\n".encode(), "没有数据行"),
        ("姓名,性别\n\n\n".encode(), "没有数据行"),
    ],
)
def test_an_empty_file_or_one_with_only_a_header_is_refused(
    tmp_path: Path, content: bytes, words: str
) -> None:
    error = problem(write(tmp_path, content))

    assert error.code == "file_empty"
    assert words in error.message


def test_a_header_followed_by_many_blank_lines_is_empty_too(tmp_path: Path) -> None:
    error = problem(write(tmp_path, "姓名,性别\n" + "\n" * 200), chunk_bytes=16)

    assert error.code == "file_empty"


def test_binary_garbage_is_not_taken_for_text(tmp_path: Path) -> None:
    garbage = bytes((i * 7919) % 256 for i in range(5000))
    assert problem(write(tmp_path, garbage)).code == "file_binary"

    pdf_like = b"%PDF-1.7\n" + bytes(range(256)) * 4
    assert problem(write(tmp_path, pdf_like, "report.csv")).code == "file_binary"


def test_nul_bytes_deep_in_a_file_are_found_with_their_line(tmp_path: Path) -> None:
    text = (HEADER + "".join(ROWS * 20)).encode()
    error = problem(write(tmp_path, text + b"1,\x00\x00\x00,1,2,3\n"), chunk_bytes=64)

    assert error.code == "file_binary"
    assert error.line == 62


def test_an_old_xls_workbook_gets_told_to_save_as_xlsx_or_csv(tmp_path: Path) -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    error = problem(write(tmp_path, ole, "人口.xls"))

    assert error.code == "file_xls_unsupported"
    assert ".xlsx" in error.message and "CSV" in error.message


def test_a_compressed_file_is_refused_with_advice_to_unpack_it(tmp_path: Path) -> None:
    error = problem(write(tmp_path, gzip.compress((HEADER + ROWS[0]).encode()), "人口.csv.gz"))

    assert error.code == "file_unsupported"


def test_a_file_over_the_upload_limit_is_refused_before_reading(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "".join(ROWS * 100))

    error = problem(path, max_bytes=1024)
    assert error.code == "file_too_large"
    assert error.detail["max_bytes"] == 1024
    assert "超过上限 1.0 KB" in error.message

    _, batches = read(path, max_bytes=path.stat().st_size)  # exactly at the limit is fine
    assert sum(b.height for b in batches) == 300


# ---- XLSX -------------------------------------------------------------------------------------


def population_workbook(path: Path) -> None:
    """As a department saves it: a title row, the header on row 3, typed cells, a blank row."""
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("常住人口")
    date = book.add_format({"num_format": "yyyy-mm-dd"})
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    sheet.write(0, 0, "示范市常住人口信息表")
    sheet.write_row(2, 0, ["身份证号", "姓名 *", "出生日期", "家庭人口", "补贴金额", "登记时间"])
    sheet.write_row(3, 0, ["11010119900307123X", "张三"])
    sheet.write_datetime(3, 2, dt.datetime(1990, 3, 7), date)
    sheet.write_number(3, 3, 3)
    sheet.write_number(3, 4, 125.5)
    sheet.write_datetime(3, 5, dt.datetime(2024, 1, 2, 8, 30), stamp)
    sheet.write_row(5, 0, ["110101199105051234", "李四", "1991-05-05"])
    sheet.write_number(5, 3, 4)
    notes = book.add_worksheet("说明")
    notes.write_column(0, 0, ["填表说明", "身份证号填 18 位"])
    book.close()


def test_an_excel_workbook_reads_its_first_sheet_as_text_with_excel_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "人口.xlsx"
    population_workbook(path)

    info, batches = read(path)

    assert (info.file_format, info.encoding) == ("xlsx", "")
    assert info.columns == ["身份证号", "姓名", "出生日期", "家庭人口", "补贴金额", "登记时间"]
    assert rows(batches) == [
        {"身份证号": "11010119900307123X", "姓名": "张三", "出生日期": "1990-03-07", "家庭人口": "3",
         "补贴金额": "125.5", "登记时间": "2024-01-02 08:30:00", "_row": 4},
        {"身份证号": "110101199105051234", "姓名": "李四", "出生日期": "1991-05-05", "家庭人口": "4",
         "补贴金额": None, "登记时间": None, "_row": 6},
    ]  # fmt: skip


def test_an_excel_sheet_can_be_chosen_by_name_and_a_missing_one_is_named(tmp_path: Path) -> None:
    path = tmp_path / "人口.xlsx"
    population_workbook(path)

    info, _ = read(path, sheet="说明")
    assert info.columns == ["填表说明"]
    error = problem(path, sheet="户籍")
    assert error.code == "file_sheet"
    assert "常住人口" in error.message


def test_a_hidden_first_sheet_is_passed_over_for_the_first_visible_one(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    hidden = book.active
    assert hidden is not None
    hidden.title = "字典"
    hidden.append(["代码", "名称"])
    hidden.append(["1", "男"])
    hidden.sheet_state = "hidden"
    data = book.create_sheet("数据")
    data.append(["姓名", "性别"])
    data.append(["张三", "1"])
    path = tmp_path / "人口.xlsx"
    book.save(path)

    info, batches = read(path)

    assert info.columns == ["姓名", "性别"]
    assert rows(batches) == [{"姓名": "张三", "性别": "1", "_row": 2}]


def test_a_damaged_or_foreign_workbook_gets_a_precise_error(tmp_path: Path) -> None:
    good = tmp_path / "人口.xlsx"
    population_workbook(good)
    data = good.read_bytes()

    assert problem(write(tmp_path, data[: len(data) // 2], "cut.xlsx")).code == "file_truncated"

    damaged = bytearray(data)
    damaged[200:1200] = b"\x00" * 1000  # inside the first member's compressed bytes
    assert problem(write(tmp_path, bytes(damaged), "bad.xlsx")).code == "file_corrupt"

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("人口.csv", HEADER)
    assert problem(write(tmp_path, archive.getvalue(), "人口.zip")).code == "file_unsupported"


def test_an_excel_sheet_with_only_a_header_is_empty(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["姓名", "性别"])
    path = tmp_path / "空.xlsx"
    book.save(path)

    error = problem(path)
    assert error.code == "file_empty"
    assert "只有表头" in error.message


# ---- JSON and NDJSON ----------------------------------------------------------------------------


def test_a_json_array_reads_values_as_text_and_nested_ones_as_json(tmp_path: Path) -> None:
    records = [
        {
            "身份证号": "11010119900307123X",
            "年龄": 36,
            "补贴": 125.50,
            "在册": True,
            "地址": {"区": "东城区"},
        },
        {"身份证号": "110101199105051234", "年龄": 35.0, "补贴": None, "在册": False, "家人": ["李五"]},
    ]
    info, batches = read(write(tmp_path, json.dumps(records, ensure_ascii=False, indent=2), "people.json"))

    assert (info.file_format, info.encoding) == ("json", "UTF-8")
    assert info.columns == ["身份证号", "年龄", "补贴", "在册", "地址", "家人"]
    assert rows(batches) == [
        {"身份证号": "11010119900307123X", "年龄": "36", "补贴": "125.5", "在册": "true",
         "地址": '{"区":"东城区"}', "家人": None, "_row": 1},
        {"身份证号": "110101199105051234", "年龄": "35", "补贴": None, "在册": "false",
         "地址": None, "家人": '["李五"]', "_row": 2},
    ]  # fmt: skip


def test_a_json_field_that_is_sometimes_nested_and_sometimes_plain_is_still_read(tmp_path: Path) -> None:
    records = [{"编号": "1", "地址": {"区": "东城区"}}, {"编号": "2", "地址": "西城区"}]
    _, batches = read(write(tmp_path, json.dumps(records, ensure_ascii=False)))

    assert [r["地址"] for r in rows(batches)] == ['{"区": "东城区"}', "西城区"]


def test_a_gbk_json_file_is_decoded(tmp_path: Path) -> None:
    data = json.dumps([{"姓名": "张三"}], ensure_ascii=False).encode("gbk")
    info, batches = read(write(tmp_path, data))

    assert info.encoding == "GB18030"
    assert rows(batches) == [{"姓名": "张三", "_row": 1}]


@pytest.mark.parametrize(
    ("content", "line", "words"),
    [
        ('[\n  {"姓名": "张三"},\n  {"姓名": "李四",}\n]', 3, "第 3 行第 15 个字符"),
        ('[{"姓名": "张三"}, "李四"]', None, "第 2 个元素不是对象"),
        ('[{"姓名": "张三"}', 1, "JSON 格式有误"),
    ],
)
def test_broken_json_is_refused_with_where_it_breaks(
    tmp_path: Path, content: str, line: int | None, words: str
) -> None:
    error = problem(write(tmp_path, content, "people.json"))

    assert error.code == "json_invalid"
    assert error.line == line
    assert words in error.message


def test_an_empty_json_array_is_empty(tmp_path: Path) -> None:
    assert problem(write(tmp_path, "[ ]")).code == "file_empty"


def test_ndjson_streams_in_chunks_with_record_numbers(tmp_path: Path) -> None:
    lines = [
        json.dumps({"编号": i, "姓名": f"居民{i}", "标签": ["a", i]}, ensure_ascii=False)
        for i in range(1, 51)
    ]
    text = "\n".join(lines[:20]) + "\n\n" + "\n".join(lines[20:]) + "\n"

    info, batches = read(write(tmp_path, text, "people.ndjson"), chunk_bytes=100, batch_rows=15)

    assert (info.file_format, info.columns) == ("ndjson", ["编号", "姓名", "标签"])
    assert [b.height for b in batches] == [15, 15, 15, 5]
    assert rows(batches)[0] == {"编号": "1", "姓名": "居民1", "标签": '["a", 1]', "_row": 1}
    assert rows(batches)[-1]["_row"] == 50


def test_ndjson_with_a_broken_line_names_that_line(tmp_path: Path) -> None:
    lines = [json.dumps({"编号": i}) for i in range(1, 31)]
    lines[24] = '{"编号": 25,'
    error = problem(write(tmp_path, "\n".join(lines) + "\n"), chunk_bytes=60)

    assert error.code == "json_invalid"
    assert error.line == 25


def test_ndjson_with_a_field_appearing_late_is_refused_not_silently_dropped(tmp_path: Path) -> None:
    lines = [json.dumps({"编号": i}) for i in range(1, 31)] + [json.dumps({"编号": 31, "备注": "迁入"})]
    error = problem(write(tmp_path, "\n".join(lines) + "\n"), chunk_bytes=60)

    assert error.code == "file_columns"
    assert error.detail["record"] == 31
    assert "“备注”" in error.message


def test_a_csv_whose_header_starts_with_a_bracket_is_still_csv(tmp_path: Path) -> None:
    info, batches = read(write(tmp_path, "[序号],[姓名]\n1,张三\n", "export.json"))

    assert (info.file_format, info.columns) == ("csv", ["[序号]", "[姓名]"])
    assert rows(batches) == [{"[序号]": "1", "[姓名]": "张三", "_row": 2}]
