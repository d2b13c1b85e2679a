"""The one selection-table reader."""

from __future__ import annotations

import pandas as pd
import pytest

from sdssflow.catalog.steps.select_exposures import SELECTION_COLUMNS
from sdssflow.io.selection import read_selection


def _write(path, rows):
    pd.DataFrame(rows, columns=SELECTION_COLUMNS).to_csv(path, index=False)
    return path


def test_types_and_empty_text_cells(tmp_path):
    rows = [
        ["apo", 55500, 4100, 120001, 900.0, 1.1, 10.0, 20.0, 1.0, 2.0, "b1 r1 b2 r2", "", ""],
        ["apo", 55500, 4100, 120002, 900.0, 1.2, 10.0, 20.0, 3.0, 4.0, "b1 r1 b2 r2", "CLOUDY", "b1 r2"],
    ]
    sel = read_selection(_write(tmp_path / "s.csv", rows))
    assert sel["exposure"].tolist() == [120001, 120002] and sel["exposure"].dtype == "int64"
    assert sel["flags"].tolist() == ["", "CLOUDY"]
    assert sel["excluded_cameras"].tolist() == ["", "b1 r2"]
    assert sel["exptime"].tolist() == [900.0, 900.0]


def test_header_only_is_an_empty_selection(tmp_path):
    sel = read_selection(_write(tmp_path / "s.csv", []))
    assert len(sel) == 0 and list(sel.columns) == SELECTION_COLUMNS


def test_errors_name_the_file(tmp_path):
    bad = tmp_path / "nocol.csv"
    bad.write_text("plate,mjd\n4100,55500\n")
    with pytest.raises(ValueError, match=r"nocol\.csv: selection table lacks column\(s\) \['exposure'\]"):
        read_selection(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match=r"empty\.csv: empty selection table"):
        read_selection(empty)
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        read_selection(tmp_path / "missing.csv")
