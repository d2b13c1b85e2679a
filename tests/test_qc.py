"""Fast tests of sdssflow.qc: product-tree comparison, completeness checks, report figures."""

from __future__ import annotations

import time

import h5py
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from sdssflow.io.products import add_provenance, write_hdulist
from sdssflow.qc import figures
from sdssflow.qc.compare import check_complete, compare_files, compare_trees, main
from sdssflow.qc.steps.report_figures import main as report_main
from sdssflow.qc.steps.report_figures import read_benchmarks


def _product(path, data, table, version="v1"):
    hdr = add_provenance(fits.Header(), version, ["in.fits"], step="test")
    hdus = fits.HDUList(
        [
            fits.PrimaryHDU(header=hdr),
            fits.ImageHDU(data, name="FLUX"),
            fits.BinTableHDU.from_columns(
                [fits.Column(name="X", format="D", array=table), fits.Column(name="N", format="K", array=np.arange(table.size))],
                name="T",
            ),
        ]
    )
    write_hdulist(hdus, path)


@pytest.fixture
def trees(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.normal(size=(4, 50)).astype(np.float32)
    data[0, 0] = np.nan
    table = rng.normal(size=7)
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        (root / "sky").mkdir(parents=True)
        _product(root / "sky" / "p.fits", data, table)
        (root / "sel.csv").write_text("plate,mjd\n4100,55500\n")
        with h5py.File(root / "cat.h5", "w") as f:
            f["apo/55500/exptime"] = np.array([900.0, 900.0])
            f["apo"].attrs["DATE"] = str(root)  # a write time: ignored
        time.sleep(1.1)  # the DATE cards differ between the two trees
    return a, b, data, table


def test_same_science_different_write_times_are_equal(trees):
    a, b, _, _ = trees
    assert fits.getval(a / "sky" / "p.fits", "DATE") != fits.getval(b / "sky" / "p.fits", "DATE")
    assert compare_trees(a, b) == []
    assert main([str(a), str(b)]) == 0


def test_changed_data_table_and_header_are_found(trees):
    a, b, data, table = trees
    changed = data.copy()
    changed[2, 10] += 1e-3
    _product(b / "sky" / "p.fits", changed, table)
    assert compare_trees(a, b) == ["sky/p.fits: HDU 1: data differ"]
    # a tolerance accepts a relative change below it
    assert compare_trees(a, b, rtol=1e-1) == []
    table2 = table.copy()
    table2[3] = -table2[3]
    _product(b / "sky" / "p.fits", data, table2, version="v2")
    diffs = compare_files(a / "sky" / "p.fits", b / "sky" / "p.fits")
    assert "HDU 0: VERSION = 'v1' vs 'v2'" in diffs and "HDU 2: column X differs" in diffs
    assert main([str(a), str(b)]) == 1


def test_missing_files_and_other_kinds(trees):
    a, b, _, _ = trees
    (b / "sel.csv").write_text("plate,mjd\n4100,55501\n")
    (b / "extra.txt").write_text("x")
    with h5py.File(b / "cat.h5", "a") as f:
        f["apo/55500/exptime"][1] = 600.0
    assert compare_trees(a, b) == [
        f"extra.txt: only in {b}",
        "cat.h5: apo/55500/exptime: values differ",
        "sel.csv: contents differ",
    ]
    assert compare_trees(a, b, skip=["*.txt", "*.csv", "*.h5"]) == []


def test_check_complete_flags_truncated_products_and_ignores_hidden_temporaries(trees):
    a, _, _, _ = trees
    assert check_complete(a) == []
    # a hidden temporary file of an atomic write is not a product
    (a / "sky" / ".p.abc123.tmp.fits").write_bytes(b"SIMPLE  =")
    assert check_complete(a) == []
    whole = (a / "sky" / "p.fits").read_bytes()
    (a / "sky" / "q.fits").write_bytes(whole[: len(whole) // 2])
    (a / "bad.h5").write_bytes(b"\x89HDF\r\n")
    (a / "fig.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    problems = check_complete(a)
    assert [p.split(":")[0] for p in problems] == ["bad.h5", "fig.png", "sky/q.fits"]
    # a corrupted data unit fails its DATASUM even though the file parses
    corrupt = bytearray(whole)
    corrupt[-100] ^= 0xFF
    (a / "sky" / "q.fits").write_bytes(bytes(corrupt))
    assert any(p.startswith("sky/q.fits") for p in check_complete(a))


def test_aliases_and_timing_columns(tmp_path):
    a, b = tmp_path / "runA", tmp_path / "runB"
    for root, t in ((a, 1.5), (b, 9.0)):
        root.mkdir()
        (root / "index.csv").write_text(f"sdss_id,path\n1,{root}/results/x.fits\n")
        cols = [
            fits.Column(name="path", format="200A", array=[f"{root}/r.fits"]),
            fits.Column(name="t_elapsed", format="D", array=[t]),
        ]
        fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(root / "status.fits")
    assert compare_trees(a, b) == ["index.csv: contents differ", "status.fits: HDU 1: column path differs"]
    assert compare_trees(a, b, aliases=[(str(b), str(a))]) == []
    assert main([str(a), str(b), "--alias", f"{b}={a}"]) == 0


def test_compare_trees_needs_directories(tmp_path):
    with pytest.raises(ValueError, match="not a directory"):
        compare_trees(tmp_path / "nope", tmp_path)


def test_summarize_benchmarks_sums_and_maxima():
    rows = pd.DataFrame(
        {
            "rule": ["a", "a", "b"],
            "s": [1.0, 2.5, 10.0],
            "max_rss": [100.0, 300.0, 50.0],
            "cpu_time": [0.5, 1.0, 9.0],
        }
    )
    out = figures.summarize_benchmarks(rows)
    assert out["rule"].tolist() == ["b", "a"]  # by total wall time
    a = out.set_index("rule").loc["a"]
    assert (a["jobs"], a["wall_total_s"], a["wall_max_s"], a["cpu_total_s"], a["max_rss_mb"]) == (2, 3.5, 2.5, 1.5, 300.0)
    with pytest.raises(ValueError, match="lack column 'cpu_time'"):
        figures.summarize_benchmarks(rows.drop(columns="cpu_time"))
    with pytest.raises(ValueError, match="no benchmark rows"):
        figures.summarize_benchmarks(rows.iloc[:0])


def test_figures_have_one_panel_per_item():
    wave = np.linspace(3600, 10000, 200)
    cal = {"00000001": {"b1": (wave, np.ones(200)), "r1": (wave, np.ones((3, 200)))}, "00000002": {"b1": (wave, 2 * np.ones(200))}}
    fig = figures.plot_calibration_vectors(cal)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["camera b1", "camera r1"]
    assert len(visible[0].lines) == 2 and len(visible[1].lines) == 1
    table = pd.DataFrame({"OI5579": [1.0, 2.0], "NaD": [3.0, np.nan], "MOON_SEP": [10.0, 50.0], "MOON_ILL": [0.1, 0.9], "SOLARFLUX": [70.0, 150.0]})
    assert len(figures.plot_line_sums_vs_conditions(table).axes) == 2 * 3
    with pytest.raises(ValueError, match="condition column"):
        figures.plot_line_sums_vs_conditions(table.drop(columns="SOLARFLUX"))
    with pytest.raises(ValueError, match="none of the line columns"):
        figures.plot_line_sums_vs_conditions(table, lines=["OH9999"])
    flux = np.ones((2, 200))
    assert len(figures.plot_mean_sky_with_continuum(wave, flux, 0.9 * flux, ["a", "b"]).axes) == 2
    with pytest.raises(ValueError, match="shapes do not agree"):
        figures.plot_mean_sky_with_continuum(wave, flux, flux[:1], ["a", "b"])
    with pytest.raises(ValueError, match="no mwmStar spectra"):
        figures.plot_mwm_stars([])


def test_benchmark_figure_step(tmp_path):
    bench = tmp_path / "benchmarks" / "v1"
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    for rule, job, s in (("sky_flux", "4100", 3.0), ("sky_flux", "4101", 5.0), ("line_sum", "4100", 1.0)):
        (bench / rule).mkdir(parents=True, exist_ok=True)
        (bench / rule / f"{job}.tsv").write_text(header + f"{s}\t0:00:0{int(s)}\t120.5\t300\t100\t110\t0\t0\t50\t{s / 2}\n")
    assert len(read_benchmarks(bench)) == 3
    out = tmp_path / "report" / "benchmarks.png"
    report_main(["benchmarks", "--bench-dir", str(bench), "--table", str(tmp_path / "report" / "b.csv"), "--out", str(out)])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = pd.read_csv(tmp_path / "report" / "b.csv")
    assert table.loc[table.rule == "sky_flux", "wall_total_s"].item() == 8.0
    with pytest.raises(Exception, match="no benchmark files"):
        report_main(["benchmarks", "--bench-dir", str(tmp_path / "empty"), "--out", str(out)])


def test_sky_and_fluxcal_figures_with_nothing_to_show_say_why(tmp_path):
    """Empty inputs give a captioned "nothing to show" PNG, not a failed run."""
    from astropy.table import Table

    empty = tmp_path / "fluxcal" / "4100" / "55500"
    empty.mkdir(parents=True)
    mega = tmp_path / "sky_meta_all.fits"
    Table({"OI5579": [np.nan, np.nan], "MOON_SEP": [1.0, 2.0], "MOON_ILL": [0.1, 0.2], "SOLARFLUX": [70.0, 80.0]}).write(mega)
    for kind, extra in (("calibration", ["--fluxcal-dir", str(empty)]), ("calibration", []),
                        ("mean-sky", []), ("mean-sky", ["--contfit", str(tmp_path / "missing.fits")]),
                        ("sky-lines", ["--mega", str(mega)]), ("sky-lines", ["--mega", str(tmp_path / "none.fits")])):
        out = tmp_path / f"{kind}-{len(extra)}.png"
        report_main([kind, *extra, "--out", str(out)])
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", kind
    fig = figures.plot_nothing_to_show("mean sky spectra", "no sky plate in this run")
    assert "nothing to show" in fig.axes[0].get_title() and "no sky plate" in fig.axes[0].texts[0].get_text()


def test_sky_and_fluxcal_figure_axes_have_units():
    wave = np.linspace(3600, 10000, 200)
    cal = {"00000001": {"b1": (wave, np.ones(200))}}
    table = pd.DataFrame({"OI5579": [1.0, 2.0], "MOON_SEP": [10.0, 50.0], "MOON_ILL": [0.1, 0.9], "SOLARFLUX": [70.0, 150.0]})
    figs = [figures.plot_calibration_vectors(cal), figures.plot_line_sums_vs_conditions(table),
            figures.plot_mean_sky_with_continuum(wave, np.ones((1, 200)), np.ones((1, 200)), ["a"])]
    for fig in figs:
        for ax in fig.axes:
            if not ax.get_visible():
                continue
            for label in (ax.get_xlabel(), ax.get_ylabel()):
                if label:
                    assert "(" in label and label.endswith(")"), label
            assert ax.get_ylabel() or ax.get_xlabel()
