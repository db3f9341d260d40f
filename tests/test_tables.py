"""``pmsn.tables``: the one CSV writer, Markdown table and value formatter."""

import csv

from hypothesis import given
from hypothesis import strategies as st

from pmsn.tables import csv_text, format_value, markdown_table, write_csv


def test_csv_keeps_precision_blanks_none_and_ignores_extra_keys(tmp_path):
    rows = [{"a": 0.1234567891, "b": None, "extra": 1}, {"a": 2}]
    write_csv(tmp_path / "t.csv", rows, ["a", "b"])
    read = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert read == [{"a": "0.1234567891", "b": ""}, {"a": "2", "b": ""}]
    assert csv_text(rows).splitlines()[0] == "a,b,extra"  # default columns: union of keys, first-seen order
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


def test_format_value():
    assert format_value(None) == "–" and format_value(None, missing="") == ""
    assert format_value(0.123456) == "0.1235" and format_value(2.5, decimals=2) == "2.50"
    assert format_value(123456.7) == "123,457" and format_value(12345) == "12,345" and format_value(12) == "12"
    assert format_value(float("nan")) == "nan" and format_value(True) == "True" and format_value("x") == "x"


@given(st.lists(st.dictionaries(st.sampled_from("abc"), st.integers(-5, 5) | st.none(), min_size=1), min_size=1))
def test_markdown_table_has_one_line_per_row_and_aligned_columns(rows):
    lines = markdown_table(rows).splitlines()
    assert len(lines) == len(rows) + 2
    assert len({line.count("|") for line in lines}) == 1
