"""QA flags: registry, CSV checks, the `sdssflow flags` CLI and exclusion."""

import pandas as pd
import pytest

from sdssflow import cli
from sdssflow import flags as qa
from sdssflow import flags_apply as qa_apply

REGISTRY = qa.load_registry()


def _write(tmp_path, text):
    path = tmp_path / "flags.csv"
    path.write_text(text)
    return path


def test_registry_has_the_boss_apogee_flags():
    for name in ["BAD_SKY_SUB", "BAD_FLUXCAL", "SHORT_EXPTIME", "SATELLITE", "BAD_SEEING", "CLOUDY", "BAD_CAMERA", "BAD_CENTERING"]:
        assert name in REGISTRY
    extended = qa.load_registry({"VERYBAD_SKY": "custom"})
    assert "VERYBAD_SKY" in extended and len(extended) == len(REGISTRY) + 1


def test_registry_refuses_lower_case_names():
    with pytest.raises(ValueError, match="UPPER_CASE"):
        qa.load_registry({"bad_name": "x"})


def test_read_flags_csv_types_and_defaults(tmp_path):
    path = _write(tmp_path, "version,observatory,mjd,plate,exposure,flag,severity\nv1,apo,55500,4100,120001,CLOUDY,2\n")
    table = qa.read_flags_csv(path, REGISTRY)
    assert table.loc[0, "severity"] == 2 and table.loc[0, "camera"] == "" and table["mjd"].dtype == "int64"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("v1,apo,55500,4100,120001,,NOT_A_FLAG,1,", "line 2: unknown flag 'NOT_A_FLAG'"),
        ("v1,xyz,55500,4100,120001,,CLOUDY,1,", "line 2: observatory must be apo or lco"),
        ("v1,apo,55500,4100,120001,b3,CLOUDY,1,", "line 2: camera must be one of"),
        ("v1,apo,notanmjd,4100,120001,,CLOUDY,1,", "line 2: column 'mjd' must be an integer"),
        ("v1,apo,55500,4100,120001,,CLOUDY,0,", "severity must be >= 1"),
    ],
)
def test_read_flags_csv_errors_name_file_and_line(tmp_path, line, message):
    path = _write(tmp_path, ",".join(qa.FLAG_COLUMNS) + "\n" + line + "\n")
    with pytest.raises(ValueError, match=message) as info:
        qa.read_flags_csv(path, REGISTRY)
    assert str(path) in str(info.value)


def test_exclude_list():
    assert qa_apply.exclude_list(True, REGISTRY) == sorted(REGISTRY)
    assert qa_apply.exclude_list(False, REGISTRY) == []
    assert qa_apply.exclude_list(["CLOUDY"], REGISTRY) == ["CLOUDY"]
    with pytest.raises(ValueError, match="unknown flag"):
        qa_apply.exclude_list(["CLOUDYY"], REGISTRY)


def test_apply_flags_exposure_and_camera_level():
    exposures = pd.DataFrame(
        {"observatory": "apo", "mjd": 55500, "plate": 4100, "exposure": [1, 2, 3]}
    )
    flag_rows = pd.DataFrame(
        [
            ("v1", "apo", 55500, 4100, 1, "", "CLOUDY", 1),
            ("v1", "apo", 55500, 4100, 2, "b1", "BAD_CAMERA", 2),
            ("v1", "apo", 55500, 4100, 3, "", "SATELLITE", 1),
        ],
        columns=qa.FLAG_COLUMNS[:-1],
    )
    kept = qa_apply.apply_flags(exposures, flag_rows, exclude=["CLOUDY", "BAD_CAMERA"])
    assert list(kept["exposure"]) == [2, 3]
    assert kept.set_index("exposure").loc[2, "excluded_cameras"] == "b1"
    assert kept.set_index("exposure").loc[3, "flags"] == "SATELLITE"
    # exposure -1 flags every exposure of the plate-MJD
    all_rows = flag_rows.iloc[:1].assign(exposure=-1)
    assert qa_apply.apply_flags(exposures, all_rows, exclude=["CLOUDY"]).empty


def test_rows_for_plate_is_canonical_and_version_scoped(tmp_path):
    table = pd.DataFrame(
        [
            ("v1", "apo", 55500, 4100, 2, "", "CLOUDY", 1, "b"),
            ("v1", "apo", 55500, 4100, 1, "", "CLOUDY", 1, "a"),
            ("v2", "apo", 55500, 4100, 1, "", "SATELLITE", 1, ""),
            ("*", "apo", 55500, 4101, 1, "", "SATELLITE", 1, ""),
        ],
        columns=qa.FLAG_COLUMNS,
    )
    rows = qa_apply.rows_for_plate(table, "v1", 4100)
    assert rows.splitlines() == ["v1,apo,55500,4100,1,,CLOUDY,1", "v1,apo,55500,4100,2,,CLOUDY,1"]
    assert "SATELLITE" in qa_apply.rows_for_plate(table, "v1", 4101)  # "*" applies to every version
    assert qa_apply.rows_for_plate(table, "v1", 9999) == ""


def test_cli_add_list_find_remove(tmp_path, capsys):
    path = tmp_path / "flags.csv"
    base = ["flags", "--file", str(path), "--version-name", "v1"]
    exp = ["--mjd", "55500", "--plate", "4100", "--exposure", "120001"]
    assert cli.main(base + ["add", *exp, "CLOUDY", "SATELLITE", "--note", "thin cirrus"]) == 0
    assert cli.main(base + ["add", *exp, "--camera", "b1", "BAD_CAMERA", "--severity", "2"]) == 0
    table = qa.read_flags_csv(path, REGISTRY)
    assert sorted(table["flag"]) == ["BAD_CAMERA", "CLOUDY", "SATELLITE"]
    assert table.set_index("flag").loc["BAD_CAMERA", "severity"] == 2
    capsys.readouterr()
    assert cli.main(base + ["find", "SATELLITE"]) == 0
    assert "120001" in capsys.readouterr().out
    assert cli.main(base + ["remove", *exp, "SATELLITE"]) == 0
    assert sorted(qa.read_flags_csv(path, REGISTRY)["flag"]) == ["BAD_CAMERA", "CLOUDY"]
    assert cli.main(base + ["list", "--plate", "4100"]) == 0
    assert "CLOUDY" in capsys.readouterr().out


def test_cli_refuses_unknown_flag(tmp_path, capsys):
    path = tmp_path / "flags.csv"
    rc = cli.main(["flags", "--file", str(path), "add", "--mjd", "55500", "--plate", "1", "--exposure", "1", "CLODY"])
    assert rc == 2
    assert "unknown flag(s) ['CLODY']" in capsys.readouterr().err
    assert not path.exists()


def test_apply_flags_on_an_empty_table_keeps_columns():
    empty = pd.DataFrame({"observatory": [], "mjd": [], "plate": [], "exposure": []})
    out = qa_apply.apply_flags(empty, pd.DataFrame(columns=qa.FLAG_COLUMNS[:-1]), ["CLOUDY"])
    assert list(out.columns) == ["observatory", "mjd", "plate", "exposure", "flags", "excluded_cameras"]


HEADER = ",".join(qa.FLAG_COLUMNS)
AWKWARD_NOTES = ['cirrus # 3, "thick", see log', "#starts with a hash", 'a "quoted" word', "x,y,,z", "  spaced  "]


def test_notes_with_hash_commas_and_quotes_survive_cli_add_and_remove(tmp_path):
    path = _write(tmp_path, "# kept comment\n" + HEADER + "\n")
    base = ["flags", "--file", str(path), "--version", "v1"]
    for i, note in enumerate(AWKWARD_NOTES):
        exp = ["--mjd", "55500", "--plate", "4100", "--exposure", str(i + 1)]
        assert cli.main(base + ["add", *exp, "CLOUDY", "--note", note]) == 0
    assert cli.main(base + ["add", "--mjd", "55500", "--plate", "4100", "--exposure", "99", "SATELLITE"]) == 0
    assert cli.main(base + ["remove", "--mjd", "55500", "--plate", "4100", "--exposure", "99", "SATELLITE"]) == 0
    table = qa.read_flags_csv(path, REGISTRY).set_index("exposure")
    assert [table.loc[i + 1, "note"] for i in range(len(AWKWARD_NOTES))] == [n.strip() for n in AWKWARD_NOTES]
    assert 99 not in table.index
    assert path.read_text().splitlines()[0] == "# kept comment"
    # the stdlib csv reader, independently, sees one record of 9 fields per data line
    import csv

    rows = [r for r in csv.reader(path.read_text().splitlines()) if r and not r[0].startswith("#")]
    assert all(len(r) == 9 for r in rows) and rows[1][-1] == AWKWARD_NOTES[0]


def test_errors_name_the_physical_line_after_comments(tmp_path):
    text = "# comment 1\n\n# comment 2\n" + HEADER + "\nv1,apo,55500,4100,1,,CLOUDY,1,ok\n"
    bad_lines = {
        "v1,apo,55500,4100,2,,CLOUDY,1,thin, patchy": "6: 10 fields but the header has 9",
        "v1,apo,55500,4100,2,,CLOUDY,1,a,b,c": "6: 11 fields",
        "v1,apo,55500,4100,2,,CLOUDY,high,": "6: column 'severity' must be an integer, got 'high'",
        'v1,apo,55500,4100,2,,CLOUDY,1,"unterminated': "6: not valid CSV",
        "#v1,apo,55500,4100,2,,NOPE,1,\nv2,apo,55500,4100,2,,NOPE,1,": "7: unknown flag 'NOPE'",
        "../x,apo,55500,4100,2,,CLOUDY,1,": "6: version must be",
    }
    for line, message in bad_lines.items():
        path = _write(tmp_path, text + line + "\n")
        with pytest.raises(ValueError, match=f"{path}, line {message}"):
            qa.read_flags_csv(path, REGISTRY)


def test_short_rows_header_without_optional_columns_and_inline_hash(tmp_path):
    path = _write(tmp_path, "version,observatory,mjd,plate,exposure,flag,severity,note\n"
                            "v1,apo,55500,4100,1,CLOUDY,2,see #4\nv1,apo,55500,4100,2,SATELLITE,1\n")
    table = qa.read_flags_csv(path, REGISTRY)
    assert list(table["note"]) == ["see #4", ""] and list(table["camera"]) == ["", ""]
    assert list(table["severity"]) == [2, 1]
    bom = tmp_path / "excel.csv"
    bom.write_bytes(("\ufeff" + HEADER + "\r\nv1,apo,55500,4100,1,,CLOUDY,1,\"a, b\"\r\n").encode())
    assert list(qa.read_flags_csv(bom, REGISTRY)["note"]) == ["a, b"]  # spreadsheet export: BOM, CRLF
    with pytest.raises(ValueError, match="duplicate column"):
        qa.read_flags_csv(_write(tmp_path, "version,observatory,mjd,plate,exposure,flag,severity,flag\n"), REGISTRY)
    with pytest.raises(ValueError, match="line 1: missing column"):
        qa.read_flags_csv(_write(tmp_path, "version,observatory,mjd\n"), REGISTRY)


def test_multiline_note_is_refused_by_the_cli(tmp_path, capsys):
    path = tmp_path / "flags.csv"
    rc = cli.main(["flags", "--file", str(path), "add", "--mjd", "55500", "--plate", "1", "--exposure", "1",
                   "CLOUDY", "--note", "two\nlines"])
    assert rc == 2 and "one line" in capsys.readouterr().err and not path.exists()
