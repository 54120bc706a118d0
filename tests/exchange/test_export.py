"""Exports of the granted view in every format: only granted items, masked, every row, counted first."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import polars as pl
import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.core.errors import ValidationFailed
from jutong.exchange import service
from jutong.sharing.models import DataAccess
from tests.exchange.conftest import GRANTED, PEOPLE, Served, make_grant, person, ref


def _body(export: service.Export) -> bytes:
    return b"".join(export.body)


def _expected_first() -> dict[str, str]:
    pid, _, sex = person(1)
    return {"gmsfhm": pid[:6] + "********" + pid[-4:], "xm": "李*", "xbdm": sex}


def test_csv_starts_with_a_bom_and_holds_only_granted_masked_items(session: Session, served: Served) -> None:
    export = service.export(session, served.consumer, ref(served), "csv")
    access = session.scalars(select(DataAccess)).one()  # recorded before a byte is read
    assert (access.kind, access.rows) == ("export", PEOPLE)
    data = _body(export)
    assert data.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == PEOPLE == export.rows
    assert list(rows[0]) == GRANTED
    assert rows[0] == _expected_first()
    assert "1990-03-07" not in data.decode()  # 出生日期 is not granted
    for n in range(1, PEOPLE + 1):
        assert person(n)[0] not in data.decode()  # no ID number in full


def test_json_xlsx_and_parquet_carry_the_same_granted_view(session: Session, served: Served) -> None:
    as_json = json.loads(_body(service.export(session, served.consumer, ref(served), "json")))
    assert len(as_json) == PEOPLE and as_json[0] == _expected_first()

    book = load_workbook(io.BytesIO(_body(service.export(session, served.consumer, ref(served), "xlsx"))))
    sheet = book.worksheets[0]
    lines = list(sheet.iter_rows(values_only=True))
    assert len(lines) == PEOPLE + 1
    assert lines[0] == ("公民身份号码（gmsfhm）", "姓名（xm）", "性别代码（xbdm）")
    assert lines[1] == tuple(_expected_first().values())

    frame = pl.read_parquet(
        io.BytesIO(_body(service.export(session, served.consumer, ref(served), "parquet")))
    )
    assert frame.columns == GRANTED and frame.height == PEOPLE
    assert frame.row(0, named=True) == _expected_first()
    assert [a.kind for a in session.scalars(select(DataAccess))] == ["export"] * 3


def test_batches_keep_every_row_once(session: Session, served: Served) -> None:
    access = service.open_access(session, served.consumer, ref(served))
    frames = list(service._batches(session, access, 4))
    assert [f.height for f in frames] == [4] * 7 + [2]
    names = pl.concat(frames)["gmsfhm"].to_list()
    assert len(set(names)) == PEOPLE


def test_an_unknown_format_is_refused(session: Session, served: Served) -> None:
    with pytest.raises(ValidationFailed) as refused:
        service.export(session, served.consumer, ref(served), "exe")
    assert refused.value.code == "export_format_unknown"


def test_parquet_keeps_dates_typed_when_they_are_granted_unmasked(session: Session, served: Served) -> None:
    from jutong.sharing import grants

    grants.revoke_grant(session, served.steward, served.grant.id, "改为含出生日期的授权")
    make_grant(
        session, served.org, served.resource, items=["gmsfhm", "csrq"], masking={"gmsfhm": "id_number"}
    )
    frame = pl.read_parquet(
        io.BytesIO(_body(service.export(session, served.consumer, ref(served), "parquet")))
    )
    assert frame.schema == {"gmsfhm": pl.String, "csrq": pl.Date}
    assert frame["csrq"].to_list()[0] == date(1990, 3, 7)
