"""Masking policies: the polars expression and its scalar twin give the documented, identical answers."""

from __future__ import annotations

import polars as pl
import pytest

from jutong.core.errors import ValidationFailed
from jutong.exchange import masking

CASES: dict[str, list[tuple[str | None, str | None]]] = {
    "id_number": [("110101199003078072", "110101********8072"), ("11010119900307807X", "110101********807X"),
                  ("123", "***"), (None, None)],
    "name": [("张三", "张*"), ("张三丰", "张*丰"), ("欧阳娜娜", "欧**娜"), ("张", "*"), ("", "")],
    "phone": [("13812345678", "138****5678"), ("0552-1234567", "055*****4567"), ("110", "***")],
    "address": [
        ("安徽省蚌埠市龙子湖区东风路12号", "安徽省蚌埠市龙子湖区"),
        ("北京市朝阳区建国路88号", "北京市朝阳区"),
        ("广西壮族自治区南宁市青秀区民族大道", "广西壮族自治区南宁市青秀区"),
        ("安徽省蚌埠市怀远县城关镇", "安徽省蚌埠市怀远县"),
        ("东风路12号", "***"),
    ],
    "full": [("任何内容", "***"), (None, None)],
    "none": [("原样", "原样")],
}  # fmt: skip


@pytest.mark.parametrize("policy", list(CASES))
def test_each_policy_masks_as_documented_in_both_forms(policy: str) -> None:
    values = [given for given, _ in CASES[policy]]
    expected = [want for _, want in CASES[policy]]
    assert [masking.mask_value(policy, v) for v in values] == expected
    frame = masking.mask_frame(pl.DataFrame({"c": values}, schema={"c": pl.String}), {"c": policy})
    assert frame["c"].to_list() == expected


def test_defaults_follow_the_data_element_and_unknown_policies_are_refused() -> None:
    items = [
        {"column_name": "gmsfhm", "element_identifier": "DE0001"},
        {"column_name": "xm", "element_identifier": "DE0002"},
        {"column_name": "lxdh", "element_identifier": "DE0006"},
        {"column_name": "zz", "element_identifier": "DE0007"},
        {"column_name": "xbdm", "element_identifier": "DE0003"},
    ]
    assert masking.default_masking(items) == {
        "gmsfhm": "id_number",
        "xm": "name",
        "lxdh": "phone",
        "zz": "address",
    }
    with pytest.raises(ValidationFailed) as refused:
        masking.check_policy("xm", "rot13")
    assert refused.value.code == "masking_policy_unknown"


def test_a_frame_keeps_unmasked_columns_and_nulls() -> None:
    frame = pl.DataFrame({"xm": ["李四", None], "xbdm": ["1", "2"]})
    out = masking.mask_frame(frame, {"xm": "name", "absent": "full"})
    assert out.to_dicts() == [{"xm": "李*", "xbdm": "1"}, {"xm": None, "xbdm": "2"}]
