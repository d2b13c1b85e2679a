"""Workflow behaviour of flags, selections and versions, seen through snakemake itself."""

import pandas as pd
import pytest

from workflow_helpers import fake_plate, jobs_to_run, snakemake


@pytest.fixture(scope="module")
def redux(tmp_path_factory):
    root = tmp_path_factory.mktemp("redux")
    fake_plate(root / "v5_7_0", 4100, 55500, [101, 102])
    fake_plate(root / "v5_7_0", 4101, 55510, [201, 202])
    return root


def _config(tmp_path, redux, **extra):
    flags = tmp_path / "flags.csv"
    if not flags.exists():
        flags.write_text("version,observatory,mjd,plate,exposure,camera,flag,severity,note\n")
    config = {"version": "vt", "input": "sdss", "boss": {"redux": str(redux), "run2d": "v5_7_0"},
              "apogee": {"redux": ""}, "flags_file": str(flags)}
    config.update(extra)
    return config


def _selection_targets(version="vt"):
    return [f"results/{version}/selection/{step}/selection-{step}-{plate}.csv"
            for step in ("sky", "fluxcal", "mwm") for plate in (4100, 4101)]


def test_flag_edit_reruns_only_the_affected_plate(tmp_path, redux):
    config = _config(tmp_path, redux)
    snakemake(tmp_path, config, *_selection_targets())
    sel = pd.read_csv(tmp_path / "results/vt/selection/sky/selection-sky-4101.csv")
    assert sorted(sel["exposure"]) == [201, 202]
    assert snakemake(tmp_path, config, "-n", *_selection_targets()).stdout.count("rule select_exposures") == 0

    (tmp_path / "flags.csv").write_text(
        "version,observatory,mjd,plate,exposure,camera,flag,severity,note\n"
        "vt,apo,55510,4101,202,,CLOUDY,1,test\n"
    )
    dry = snakemake(tmp_path, config, "-n", *_selection_targets())
    assert jobs_to_run(dry) == {"select_exposures": 1}  # the tables of plate 4101 only
    assert "output: results/vt/selection/sky/selection-sky-4100.csv" not in dry.stdout
    assert "output: results/vt/selection/sky/selection-sky-4101.csv" in dry.stdout
    snakemake(tmp_path, config, *_selection_targets())
    sel = pd.read_csv(tmp_path / "results/vt/selection/sky/selection-sky-4101.csv")
    assert sorted(sel["exposure"]) == [201]


def test_step_level_exclude_flags_and_selection(tmp_path, redux):
    (tmp_path / "flags.csv").write_text(
        "version,observatory,mjd,plate,exposure,camera,flag,severity,note\n"
        "vt,apo,55500,4100,101,,SATELLITE,1,trail\n"
        "vt,apo,55500,4100,102,b1,BAD_CAMERA,2,\n"
    )
    config = _config(tmp_path, redux, exclude_flags=["SATELLITE", "BAD_CAMERA"],
                     selections={"all": "exptime > 0", "late": "exposure >= 102"},
                     mwm={"exclude_flags": False}, fluxcal={"selection": "late"})
    snakemake(tmp_path, config, *_selection_targets())
    sky = pd.read_csv(tmp_path / "results/vt/selection/sky/selection-sky-4100.csv", keep_default_na=False)
    assert list(sky["exposure"]) == [102] and sky.loc[0, "excluded_cameras"] == "b1"
    mwm = pd.read_csv(tmp_path / "results/vt/selection/mwm/selection-mwm-4100.csv", keep_default_na=False)
    assert list(mwm["exposure"]) == [101, 102] and "SATELLITE" in mwm.loc[0, "flags"]
    fluxcal = pd.read_csv(tmp_path / "results/vt/selection/fluxcal/selection-fluxcal-4101.csv")
    assert list(fluxcal["exposure"]) == [201, 202]
    fluxcal = pd.read_csv(tmp_path / "results/vt/selection/fluxcal/selection-fluxcal-4100.csv")
    assert list(fluxcal["exposure"]) == [102]


def test_reuse_links_catalog_from_older_version(tmp_path, redux):
    old = _config(tmp_path, redux, version="v0")
    snakemake(tmp_path, old, "results/v0/catalog/exposures.h5")
    new = _config(tmp_path, redux, version="v1", reuse={"exposure_catalog": "v0"})
    dry = snakemake(tmp_path, new, "-n", "results/v1/selection/sky/selection-sky-4100.csv")
    counts = jobs_to_run(dry)
    assert counts.get("link_reused") == 1 and "exposure_catalog" not in counts
    snakemake(tmp_path, new, "results/v1/selection/sky/selection-sky-4100.csv")
    linked, source = tmp_path / "results/v1/catalog/exposures.h5", tmp_path / "results/v0/catalog/exposures.h5"
    assert linked.stat().st_ino == source.stat().st_ino  # a hard link, not a recomputation



def test_reuse_of_sky_flux_links_it_inside_the_plate_sky_job(tmp_path, redux):
    """reuse: {sky_flux: v0}: the sky_plate job takes v0's skyflux as an input and links it
    (--reused-skyflux); reuse: {sky_plate: v0}: link_reused links all six products."""
    (tmp_path / "results/v0/sky/4100").mkdir(parents=True)
    target = "results/v1/sky/4100/lines-4100.fits"
    flux = _config(tmp_path, redux, version="v1", reuse={"sky_flux": "v0"})
    proc = snakemake(tmp_path, flux, "-n", "-p", target, check=False)
    assert proc.returncode != 0
    assert "reuse.sky_flux: results/v0/sky/4100/skyflux-4100.fits does not exist" in proc.stdout + proc.stderr
    for kind in ("skyflux", "rich", "lines", "mean", "meanlines", "contfit"):
        (tmp_path / "results/v0/sky/4100" / f"{kind}-4100.fits").write_bytes(b"")
    dry = snakemake(tmp_path, flux, "-n", "-p", target).stdout
    assert jobs_to_run(snakemake(tmp_path, flux, "-n", target))["sky_plate"] == 1
    assert "--reused-skyflux results/v0/sky/4100/skyflux-4100.fits" in dry
    whole = _config(tmp_path, redux, version="v1", reuse={"sky_plate": "v0"})
    counts = jobs_to_run(snakemake(tmp_path, whole, "-n", target))
    assert counts == {"link_reused": 1}, counts

def test_bad_config_fails_before_any_job(tmp_path, redux):
    config = _config(tmp_path, redux, selections={"all": "exptime >>> 0"})
    proc = snakemake(tmp_path, config, "-n", check=False)
    assert proc.returncode != 0
    assert "selections.all: invalid query" in proc.stdout + proc.stderr
    config = _config(tmp_path, redux, sky={"calibraton": "bosz"})
    proc = snakemake(tmp_path, config, "-n", check=False)
    assert proc.returncode != 0 and "calibraton" in proc.stdout + proc.stderr


def test_newer_solar_flux_table_reruns_the_plate_sky_job(tmp_path, redux):
    """sky.solar_flux_table is an input of sky_plate (passed on to rich_metadata on its command
    line); a newer table re-runs the plate's job and nothing upstream; unset, the rule has no
    such input."""
    import os

    target = "results/vt/sky/4100/rich-4100.fits"
    table = tmp_path / "fluxtable.txt"
    table.write_text("fluxdate fluxtime fluxjulian fluxcarrington fluxobsflux fluxadjflux fluxursi\n")
    config = _config(tmp_path, redux, sky={"solar_flux_table": str(table)})
    dry = snakemake(tmp_path, config, "-n", "-p", target).stdout
    rule = dry[dry.index("rule sky_plate"):]
    assert f"{table}" in rule[: rule.index("output:")]
    assert f"--solar-flux-table {table} " in rule
    # make the chain up to date without running it: real selection, stand-in sky products
    snakemake(tmp_path, config, "results/vt/selection/sky/selection-sky-4100.csv")
    (tmp_path / "results/vt/sky/4100").mkdir(parents=True, exist_ok=True)
    for kind in ("skyflux", "rich", "lines", "mean", "meanlines", "contfit"):
        (tmp_path / "results/vt/sky/4100" / f"{kind}-4100.fits").write_bytes(b"")
    snakemake(tmp_path, config, "--touch", target)
    assert jobs_to_run(snakemake(tmp_path, config, "-n", target)) == {}
    later = os.stat(tmp_path / target).st_mtime + 60
    os.utime(table, (later, later))
    assert jobs_to_run(snakemake(tmp_path, config, "-n", target)) == {"sky_plate": 1}
    unset = snakemake(tmp_path, _config(tmp_path, redux), "-n", "-p", "--forcerun", "sky_plate", target).stdout
    assert "--solar-flux-table" not in unset and str(table) not in unset
