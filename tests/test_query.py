"""Selection queries: an ast-checked grammar evaluated with numpy, never as code."""

import numpy as np
import pandas as pd
import pytest

from sdssflow import config as sdss_config
from sdssflow.catalog.query import QueryError, evaluate_query, parse_query
from sdssflow.io.catalog_model import empty_exposure_table, records_to_frame


def _table():
    rng = np.random.default_rng(3)
    n = 40
    records = [
        {
            "observatory": ["apo", "lco"][i % 2],
            "mjd": 55500 + i // 4,
            "exposure": 100 + i,
            "instrument": "boss",
            "plate": 4100 + i % 3,
            "quality": ["excellent", "bad", "test", ""][i % 4],
            "exptime": float(rng.choice([0.0, 600.0, 900.0, 1200.0])),
            "airmass": float(rng.uniform(1.0, 2.5)),
            "dec": float(rng.uniform(-60, 60)),
            "seeing": float("nan") if i % 5 == 0 else float(rng.uniform(0.8, 2.5)),
        }
        for i in range(n)
    ]
    return records_to_frame(records)


# Queries pandas understands the same way: pandas' own evaluation is the reference.
SAME_AS_PANDAS = [
    "exptime > 0",
    "exptime >= 900 and airmass < 1.5",
    "exptime >= 900 & airmass < 1.5",
    "not (exptime > 0) or quality == 'bad'",
    "~(exptime > 0) | (quality == 'bad')",
    "quality in ['bad', 'test']",
    "quality not in ('bad', 'test') and observatory == 'lco'",
    "1.2 < airmass < 2",
    "exposure % 3 == 0",
    "exptime / 60 + 1 > 11",
    "-dec > 10",
    "plate in [4100, 4102] and mjd >= 55503",
    "seeing < 1.5",  # NaN compares false
    "not (seeing < 1.5)",
    "abs(dec) < 30",
    "sqrt(exptime) > 25",
    "exptime ** 0.5 >= 30",
]


@pytest.mark.parametrize("query", SAME_AS_PANDAS)
def test_evaluation_matches_pandas(query):
    table = _table()
    reference = table.eval(query, engine="python")
    mask = evaluate_query(parse_query(query, table), table)
    assert mask.dtype == bool and mask.shape == (len(table),)
    np.testing.assert_array_equal(mask, reference.to_numpy(dtype=bool))
    assert 0 < mask.sum() < len(table) or query in ("-dec > 10",)


def test_functions_and_isnan_against_numpy():
    table = _table()
    np.testing.assert_array_equal(evaluate_query("isnan(seeing)", table), np.isnan(table["seeing"].to_numpy()))
    np.testing.assert_array_equal(
        evaluate_query("log10(airmass) > 0.2", table), np.log10(table["airmass"].to_numpy()) > 0.2
    )
    assert evaluate_query("exptime > 0", table.iloc[:0]).shape == (0,)


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("exptime > 0 and @pd.io.common.os.system('touch /tmp/x') == 0", "'@'"),
        ("@threshold < exptime", "'@'"),
        ("exptime.max() > 0", "a call is not allowed"),
        ("quality.str.len() > 0", "a call is not allowed"),
        ("observatory.values", "attribute access"),
        ("cameras[0] == 'b'", "subscript"),
        ("__import__('os').system('true') == 0", "a call is not allowed"),
        ("open('/etc/passwd') == 1", "a call is not allowed"),
        ("(lambda: 1)() == 1", "a call is not allowed"),
        ("abs(dec, 2) < 1", "exactly one argument"),
        ("exptime", "is a number, not a boolean"),
        ("quality", "is a string, not a boolean"),
        ("exptime + 1", "not a boolean"),
        ("no_such_column > 3", "unknown column 'no_such_column'"),
        ("exptime > 'long'", "compares a number with a string"),
        ("quality > 'a'", "need numbers"),
        ("quality + 1 > 0", "arithmetic needs numbers"),
        ("exptime in [1, 'a']", "'a' is not a number"),
        ("exptime in exposure", "'in' needs a [list]"),
        ("exptime in [exposure]", "literals only"),
        ("exptime > 0 and exptime", "not boolean"),
        ("[x for x in ()] == 1", "comprehension"),
        ("exptime >>> 3", "syntax error"),
        ("`exptime` > 0", "backtick"),
        ("", "empty query"),
        ("exptime > 0 if 1 else 0", "conditional expression"),
        ("exptime ^ 2 > 0", "BitXor"),
        ("(" * 250 + "exptime > 0" + ")" * 250, "syntax error"),
        ("exptime > 0 or " * 300 + "exptime > 0", "longer than"),
    ],
)
def test_refused_queries_name_the_reason(query, reason):
    with pytest.raises(QueryError, match=reason.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        parse_query(query, empty_exposure_table())


def test_check_config_refuses_code_without_running_it(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    monkeypatch.chdir(tmp_path)
    query = f"exptime > 0 and @pd.io.common.os.system('touch {marker}') == 0"
    with pytest.raises(sdss_config.ConfigError, match=r"^selections.evil: invalid query .*'@'"):
        sdss_config.check_query("evil", query)
    for attempt in (f"__import__('os').system('touch {marker}') == 0", f"exptime.pipe(print, '{marker}') == 0"):
        with pytest.raises(sdss_config.ConfigError, match=r"^selections.evil: .*a call is not allowed"):
            sdss_config.check_query("evil", attempt)
    assert not marker.exists()


def test_select_plate_uses_the_same_evaluator():
    from sdssflow.catalog.steps.select_exposures import select_plate

    table = _table().assign(image_type="science", flagged_bad=0)
    flags = pd.DataFrame(columns=["version", "observatory", "mjd", "plate", "exposure", "camera", "flag", "severity"])
    chosen = select_plate(table, 4100, "exptime >= 900 & quality != 'bad'", flags, [])
    expected = table[(table["plate"] == 4100) & (table["exptime"] >= 900) & (table["quality"] != "bad")]
    assert sorted(chosen["exposure"]) == sorted(expected["exposure"]) and len(expected) > 0
    with pytest.raises(sdss_config.ConfigError, match="a call is not allowed"):
        select_plate(table, 4100, "exptime.max() > 0", flags, [])
