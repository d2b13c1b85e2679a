"""mwm_bucket: one job writes the mwmVisit and mwmStar files of a GG/HH bucket or of a whole GG,
the same files and status rows as mwm_visit followed by mwm_star (tests/test_mwm_steps.py)."""

from __future__ import annotations

import numpy as np
import pytest

from sdssflow.io.mwm import read_mwm
from sdssflow.io.mwm_status import read_status
from sdssflow.mwm.steps import mwm_bucket, mwm_status
from sdssflow.steps import StepError
from test_mwm_steps import BASIS, BROKEN, GOOD, OTHER, _flag, synthetic_survey  # noqa: F401


def _run(root, index, bucket):
    spectra = root / "spectra"
    status = spectra / "status" / bucket / "status.fits"
    mwm_bucket.main(["--index-dir", str(index), "--bucket", bucket, "--basis", str(BASIS),
                     "--visit-dir", str(spectra / "visit" / bucket), "--star-dir", str(spectra / "star" / bucket),
                     "--status", str(status), "--version-name", "v1"])  # fmt: skip
    return spectra, status


@pytest.mark.parametrize("granularity", ["gghh", "gg"])
def test_mwm_bucket_matches_the_two_steps(synthetic_survey, tmp_path, granularity):  # noqa: F811
    index = synthetic_survey["root"] / "index"
    buckets = ["12/34", "23/45"] if granularity == "gghh" else ["12", "23"]
    statuses = []
    for b in buckets:
        spectra, status = _run(tmp_path, index, b)
        statuses.append(status)
    # the job's directories hold exactly the files the two separate steps wrote
    ref = synthetic_survey["spectra"]
    names = sorted(p.relative_to(spectra).as_posix() for p in spectra.glob("*/*/*/mwm*.fits"))
    assert names == sorted(p.relative_to(ref).as_posix() for p in ref.glob("*/*/*/mwm*.fits"))
    assert len(names) == 6  # GOOD, BROKEN (its good BOSS visits, issue 10), OTHER: visit + star each
    _, star = read_mwm(spectra / "star" / "12" / "34" / f"mwmStar-v1-{GOOD}.fits")
    _, star_ref = read_mwm(ref / "star" / "12" / "34" / f"mwmStar-v1-{GOOD}.fits")
    for hdu in ("BOSS/APO", "APOGEE/APO"):
        np.testing.assert_allclose(star[hdu][0]["flux"], star_ref[hdu][0]["flux"], rtol=1e-6)
        assert star[hdu][0]["v_rad"] == pytest.approx(star_ref[hdu][0]["v_rad"], abs=1e-6)
    # mwm_status takes the job status tables: same rows and flags as from the two-step tables
    out = tmp_path / "mwm_status.fits"
    mwm_status.main(["--status", *map(str, statuses), "--index-dir", str(index), "--output", str(out)])
    got = {int(r["sdss_id"]): int(r["flags"]) for r in read_status(out)}
    want = {int(r["sdss_id"]): int(r["flags"]) for r in read_status(synthetic_survey["status"])}
    assert got == want and set(got) >= {GOOD, BROKEN, OTHER}
    assert _flag(got[GOOD], "CREATED_MWM_STAR") and not _flag(got[BROKEN], "ATTEMPTED_BUT_EXCEPTION")


def test_mwm_bucket_empty_gg_and_bad_arguments(synthetic_survey, tmp_path):  # noqa: F811
    index = synthetic_survey["root"] / "index"
    spectra, status = _run(tmp_path, index, "99")  # no source in GG 99: empty outputs, no error
    assert (spectra / "visit" / "99").is_dir() and (spectra / "star" / "99").is_dir()
    assert len(read_status(status)) == 0
    with pytest.raises(StepError, match="expected GG or GG/HH"):
        mwm_bucket.bucket_hh(index, "1/2")
    with pytest.raises(StepError, match="must end with visit/12/34"):
        mwm_bucket.spectra_root(tmp_path / "visit" / "12", "visit", "12/34")


def _summary(tmp_path, extra):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    config = tmp_path / "config.yaml"
    config.write_text(
        f"demo: {{root: {tmp_path / 'demo'}, n_plates: 1, n_mjds: 1, n_exposures: 1}}\n{extra}"
    )
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--configfile",
                           str(config), "--summary"], cwd=tmp_path, capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {line.split("\t")[0]: line.split("\t")[2] for line in proc.stdout.splitlines() if "\t" in line}


@pytest.mark.parametrize("granularity", ["gghh", "gg"])
def test_summary_lists_the_declared_mwm_outputs(tmp_path, granularity):
    """Every bucket job's mwmVisit/mwmStar directories and status are declared outputs of
    mwm_bucket, so ``snakemake --summary`` (and --delete-all-output) sees them."""
    from sdssflow.io.mwm_grids import bucket
    from sdssflow.synth.layout import demo_plan, demo_sources

    rows = _summary(tmp_path, f"mwm: {{bucket: {granularity}}}\n")
    plan = demo_plan({"root": str(tmp_path / "demo"), "n_plates": 1, "n_mjds": 1, "n_exposures": 1})
    buckets = sorted({bucket(s.sdss_id) for s in demo_sources(plan)})
    jobs = sorted({f"{gg}/{hh}" if granularity == "gghh" else gg for gg, hh in buckets})
    assert len(jobs) >= 2
    for job in jobs:
        for out in (f"visit/{job}", f"star/{job}", f"status/{job}/status.fits"):
            assert rows.get(f"results/v1/spectra/{out}") == "mwm_bucket", out
    assert not any("visit-status" in k or "star-status" in k for k in rows)
    assert rows.get("results/v1/mwm/apogee_rv_templates.fits") == "apogee_templates"


def test_bucket_jobs_read_the_apogee_templates_product(tmp_path):
    """One apogee_templates job builds the H-band templates from the BOSZ mirror; every
    mwm_bucket job takes the product as input and passes it on; none without templates."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]

    def dry(extra):
        config = tmp_path / "config.yaml"
        config.write_text(f"demo: {{root: {tmp_path / 'demo'}, n_plates: 1, n_mjds: 1, n_exposures: 1}}\n{extra}")
        proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--configfile",
                               str(config), "-n", "-p", "results/v1/spectra/mwm_status.fits"], cwd=tmp_path, capture_output=True, text=True)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    out = dry("")
    assert out.count("rule apogee_templates:") == 1
    assert "python -m sdssflow.mwm.steps.apogee_templates --templates resources/bosz2024/manifest.csv" in out
    jobs = [block for block in out.split("rule ")[1:] if block.startswith("mwm_bucket:")]
    assert len(jobs) >= 2
    for block in jobs:
        assert "results/v1/mwm/apogee_rv_templates.fits" in block.split("output:")[0]  # an input
        assert "--apogee-templates results/v1/mwm/apogee_rv_templates.fits" in block
    none = dry("mwm: {apogee_templates: ''}\n")
    assert "rule apogee_templates:" not in none and "--apogee-templates" not in none
