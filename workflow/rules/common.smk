# Parse-time work: validate the config and flags, derive the survey plan, and hold
# every input and target function. No rules here.
import functools
import inspect
import json
import os
import re
import shlex
from pathlib import Path

from snakemake.utils import validate

import sdssflow
from sdssflow import config as sdss_config
from sdssflow import flags as sdss_flags
from sdssflow import flags_apply
from sdssflow import versions as sdss_versions
from sdssflow.catalog.steps import raw_manifest as sdss_raw
from sdssflow.resources import data_path
from sdssflow.io.products import find_fits
from sdssflow.synth.layout import demo_plan, frame_suffix

validate(config, "../schemas/config.schema.yaml", set_default=True)
sdss_config.resolve_repository_paths(config, workflow.basedir)
sdss_config.check_config(config)

VERSION = config["version"]
CODE_VERSION = sdssflow.__version__
FLAG_REGISTRY = sdss_flags.load_registry(config["flags"])
FLAGS_TABLE = sdss_flags.read_flags_csv(config["flags_file"], FLAG_REGISTRY)
validate(FLAGS_TABLE, "../schemas/flags.schema.yaml")
PLATE_MJDS = sdss_config.plate_mjds(config)
PLATES = sorted({plate for plate, _ in PLATE_MJDS})
DEMO = demo_plan(config["demo"])
STEPS_WITH_SELECTION = ["sky", "fluxcal", "mwm"]


def grow(base):
    """A resource (mem_mb in MB, runtime in minutes) that grows with the attempt.

    Attempt n (1 on the first run, n > 1 on the retries of `--retries`/profile `retries`)
    asks for n * base, so a job killed for memory or time is retried with more."""

    def resource(wildcards, attempt):
        return base * attempt

    return with_known_signature(resource)


def with_known_signature(function):
    """The function, with its signature computed once (``__signature__``).

    Snakemake inspects the signature of every resource, input and params function for
    every job (3 to 6 per job, 10^5 at survey scale: ~5 % of the dry run); `inspect`
    returns a function's ``__signature__`` as it is instead of rebuilding it."""
    function.__signature__ = inspect.signature(function)
    return function


wildcard_constraints:
    version=r"[A-Za-z0-9][A-Za-z0-9._-]*",
    plate=r"\d+",
    mjd=r"\d{5}",
    step="|".join(STEPS_WITH_SELECTION),
    gg=r"\d{2}",
    hh=r"\d{2}",
    bucket=r"\d{2}(/\d{2})?",


# ---------------------------------------------------------------- inputs of the survey
def get_survey_inputs(wildcards=None):
    """Files that must exist before anything reads the reductions.

    For the demo survey, the generator's manifest (so every reader waits for
    demo_survey); for a real tree, nothing: the files are already there.
    """
    if config["input"] == "demo":
        return [str(DEMO.manifest)]
    return []


BOSS_REDUX_ROOT = str(sdss_config.boss_run2d_dir(config))


def boss_redux_root():
    """$BOSS_SPECTRO_REDUX/<run2d> of the configured input (found once: jobs ask per plate)."""
    return BOSS_REDUX_ROOT


def apogee_redux_root():
    """$APOGEE_REDUX/<apred> of the configured input ('' when there is none)."""
    return str(sdss_config.apogee_apred_dir(config))


def plate_dir(wildcards):
    """The plate (or FPS field) directory of a plate wildcard (sdss-access template)."""
    return _plate_dir(int(wildcards["plate"]))


@functools.lru_cache(maxsize=None)
def _plate_dir(plate):
    # found once per plate: the parse-time manifests and several jobs of a plate ask
    return str(sdss_config.plate_dir(config, plate, mjds_of_plate(plate)[0]))


# Survey scale: input functions ask for a plate's MJDs once per job (10^4 jobs); a scan of
# the 5,000 plate-MJDs each time cost ~1 s of the dry run, a dict look-up costs nothing.
MJDS_OF_PLATE = {}
for _plate, _mjd in PLATE_MJDS:
    MJDS_OF_PLATE.setdefault(_plate, []).append(_mjd)
MJDS_OF_PLATE = {p: sorted(m) for p, m in MJDS_OF_PLATE.items()}


def mjds_of_plate(plate):
    """MJDs observed for one plate (sorted; empty for an unknown plate)."""
    return MJDS_OF_PLATE.get(int(plate), [])


# ---------------------------------------------------------------- raw inputs in the DAG
def raw_source(plate):
    """(directory, fnmatch patterns, recursive) of one plate's raw files (its manifest's)."""
    if config["input"] == "spec_files":
        spec_dir = sdss_config.expand_path(config["spec_files"]["dir"])
        # plate-era names pad the plate to 4 digits, SDSS-V (DR19) names the field to 6
        names = dict.fromkeys((f"spec-{int(plate):04d}-*", f"spec-{int(plate):06d}-*"))
        return str(spec_dir), tuple(names), True
    # the plate's (FPS field's) own directory: <run2d>/<PLATE4> in the plate era, the
    # sdss-access <FIELD6> directory in SDSS-V (a PLATE4 name there is not the field's)
    return plate_dir({"plate": plate}), ("*",), False


def raw_manifest(plate, version=None):
    """results/<version>/raw/<plate>.tsv: the file-stat manifest of a plate's raw files."""
    return f"results/{version or VERSION}/raw/{plate}.tsv"


def sync_raw_manifests():
    """Refresh every plate's manifest whose raw files changed (name, size or mtime).

    A manifest is rewritten only when the stats differ, so Snakemake's mtime rule re-runs
    exactly the jobs of the plates whose files changed (catalog, that plate's selection and
    everything after). Only the main process does this (not cluster or subprocess jobs).
    """
    if not workflow.is_main_process:
        return
    for plate in PLATES:
        directory, patterns, recursive = raw_source(plate)
        if os.path.isdir(directory):
            sdss_raw.sync_manifest(
                raw_manifest(plate), sdss_raw.listing(directory, patterns, recursive)
            )


sync_raw_manifests()


def get_raw_manifest_args(wildcards):
    directory, patterns, recursive = raw_source(wildcards.plate)
    return (
        f"--dir {directory} --glob "
        + " ".join(f"'{p}'" for p in patterns)
        + (" --recursive" if recursive else "")
    )


def plate_catalog_source():
    """Options of plate_selection naming what a plate's catalog scans (the input route)."""
    if config["input"] == "spec_files":
        return f"--spec-dir {sdss_config.expand_path(config['spec_files']['dir'])}"
    return f"--boss-dir {boss_redux_root()}"


PLATE_CATALOG_SOURCE = plate_catalog_source()
#: The catalog a plate's selection reads: its own plate catalog (the default, so a changed
#: raw file re-runs only its plate), or under reuse: exposure_catalog the survey catalog of
#: the older version (linked into this one; a params string, its {version} filled per job).
SELECT_CATALOG_ARG = (
    "--select-catalog results/{version}/catalog/exposures.h5"
    if "exposure_catalog" in config["reuse"]
    else ""
)


def get_select_exposures_input(wildcards):
    """The survey files, the plate's raw manifest, and the survey catalog under reuse."""
    out = {
        "survey": get_survey_inputs(),
        "raw": raw_manifest(wildcards.plate, wildcards.version),
    }
    if "exposure_catalog" in config["reuse"]:
        out["survey_catalog"] = f"results/{wildcards.version}/catalog/exposures.h5"
    return out


def get_catalog_input(wildcards):
    """The survey files and every plate's raw manifest."""
    return {
        "survey": get_survey_inputs(),
        "raw": [raw_manifest(p, wildcards.version) for p in PLATES],
    }


# ---------------------------------------------------------------- versions and reuse
#: Products of each reusable step, as regexes of paths below results/<version>/
#: (defined in sdssflow.versions, so check_config knows the same steps).
REUSE_PATTERNS = sdss_versions.REUSE_PATTERNS
REUSED_PATH_REGEX = sdss_versions.reused_path_regex(config["reuse"], REUSE_PATTERNS)


def step_version(step):
    """The version whose products a step's consumers read (reuse: or this version)."""
    return config["reuse"].get(step, VERSION)


def reused_source(step, path):
    """results/<old>/<path> of reuse.<step>: <old>; an error if that version lacks it."""
    old = config["reuse"][step]
    source = Path("results", old, path)
    if not source.exists():
        raise ValueError(
            f"reuse.{step}: {source} does not exist; run version {old} first"
        )
    return str(source)


def get_reused_source(wildcards):
    """The older version's file that link_reused links to results/<version>/<path>."""
    for step in config["reuse"]:
        pattern = REUSE_PATTERNS.get(step)
        if pattern and re.fullmatch(pattern, wildcards.path):
            return reused_source(step, wildcards.path)
    raise ValueError(f"no reused step produces {wildcards.path}")


def get_catalog_source_args():
    """Command-line options telling exposure_catalog what to scan."""
    if config["input"] == "spec_files":
        source = f"--spec-dir {sdss_config.expand_path(config['spec_files']['dir'])}"
    else:
        source = f"--boss-dir {boss_redux_root()}"
        plates = config["boss"]["plates"] if config["input"] == "sdss" else []
        if plates:
            source += " --plates " + ",".join(str(p) for p in plates)
    apogee = apogee_apred_dir_str()
    if apogee and config["catalog"]["include_apogee"]:
        source += f" --apogee-dir {apogee}"
    return source


def apogee_apred_dir_str():
    """$APOGEE_REDUX/<apred> as a string ('' when there is none)."""
    return str(sdss_config.apogee_apred_dir(config) or "")


# ---------------------------------------------------------------- flags and selections
def _step_block(step):
    return config[step]


def get_selection_steps():
    """Selection name, query and excluded flags of every step, as JSON for select_exposures.

    One select_exposures job per plate writes the three steps' tables (fewer jobs at survey
    scale); the settings and the plate's flag rows are params, so a change re-runs only
    the plates it concerns.
    """
    steps = {}
    for step in STEPS_WITH_SELECTION:
        block = _step_block(step)
        name = block["selection"]
        # <step>.exclude_flags has no schema default on purpose: unset = the global list
        setting = block.get("exclude_flags", config["exclude_flags"])
        steps[step] = {
            "selection": name,
            "query": config["selections"][name],
            "exclude": flags_apply.exclude_list(setting, FLAG_REGISTRY),
        }
    return json.dumps(steps, sort_keys=True)


def get_selection_flag_rows(wildcards):
    """This plate's rows of flags.csv for this version.

    A param, not an input, so editing flags.csv re-runs only the plates whose flags
    changed (Snakemake's params rerun trigger).
    """
    plate = int(wildcards.plate)
    if plate in _FLAGGED_PLATES:
        if plate not in _FLAG_ROWS_BY_PLATE:
            _FLAG_ROWS_BY_PLATE[plate] = flags_apply.rows_for_plate(
                FLAGS_TABLE, VERSION, plate
            )
        return _FLAG_ROWS_BY_PLATE[plate]
    return _NO_FLAG_ROWS


# Survey scale: rows_for_plate filters the whole flags table (~15 ms a call); with 3 steps
# x 2,500 plates it was the slowest input function of the dry run. Now it runs once per
# flagged plate, and once for all plates without flag rows (which share one answer).
_FLAGGED_PLATES = {int(p) for p in FLAGS_TABLE["plate"]}
_FLAG_ROWS_BY_PLATE = {}
_NO_FLAG_ROWS = flags_apply.rows_for_plate(FLAGS_TABLE, VERSION, -1)


def get_selection(step):
    """Path pattern of a step's per-plate selection table (wildcards: plate)."""
    return f"results/{VERSION}/selection/{step}/selection-{step}-{{plate}}.csv"


# ---------------------------------------------------------------- sky (issue: sky-flux dataset)
SKY = config["sky"]


def sky_plates():
    """Plates of the sky jobs: every plate, except on the spec_files route where only
    plates with at least one plate-era spec "full" file (per-exposure HDUs) have sky spectra.
    Lite files (coadd only) and SDSS-V (v6) spec files are named in a warning with the reason
    (a lite file holds no per-exposure sky; a v6 file's exposure tables merge b+r and carry no
    CALIB, DR19 datamodel); the sky_flux step lists them again in the STATUS table of plates
    that it runs. Once a plate has a full file its other files are not opened (a spec-file
    directory may hold a thousand files a plate).
    """
    if config["input"] != "spec_files":
        return PLATES
    import fitsio
    from snakemake.logging import logger

    from sdssflow.io.spec_v6 import SPEC_V6_NAME
    from sdssflow.io.specfile import SPEC_NAME

    spec_dir = Path(sdss_config.expand_path(config["spec_files"]["dir"]))
    full, lite, v6 = set(), [], []
    for path in sorted(spec_dir.rglob("spec-*.fits*")):
        if SPEC_V6_NAME.match(path.name):  # spec-<FIELD6>-<MJD>-<CATALOGID>
            v6.append(path.name)
            continue
        m = SPEC_NAME.match(path.name)
        if not m or int(m.group(1)) in full:
            continue
        with fitsio.FITS(str(path)) as f:
            is_full = any(
                re.match(r"^[BR][12]-\d{8}", f[i].get_extname() or "")
                for i in range(1, len(f))
            )
        if is_full:
            full.add(int(m.group(1)))
        else:
            lite.append((int(m.group(1)), path.name))
    skipped = sorted({p for p, _ in lite} - full)
    if lite:
        logger.warning(
            f"sky chain: {len(lite)} lite spec file(s) without per-exposure HDUs hold no "
            f"per-exposure sky and give no sky spectra: {', '.join(n for _, n in lite)}"
            + (
                f"; plate(s) {', '.join(map(str, skipped))} have no full file and are left out"
                if skipped
                else ""
            )
        )
    if v6:
        shown = ", ".join(v6[:5]) + (f" and {len(v6) - 5} more" if len(v6) > 5 else "")
        logger.warning(
            f"sky chain: {len(v6)} SDSS-V (v6) spec file(s) give no sky spectra (their "
            f"exposure tables merge b and r and carry no CALIB, so no per-camera sky with "
            f"errors exists; use input: sdss (the spFrame/spCFrame files) for SDSS-V sky): {shown}"
        )
    return sorted(full)


SKY_PLATES = sky_plates()


def sky_dir(version=None):
    """results/<version>/sky of this version (or another)."""
    return f"results/{version or VERSION}/sky"


def get_sky_plate_input(wildcards):
    """Inputs of a plate's sky chain.

    The selection table of the job's own version, the survey files, (bosz mode) the
    flux-calibration directories, the configured user tables of rich_metadata
    (sky.photometric_table, sky.solar_flux_table: declared inputs, so a newer table re-runs
    the plate; without sky.solar_flux_table the package's F10.7 table is used, part of the
    code version) and, under reuse: sky_flux, the older version's skyflux product.
    """
    plate = wildcards.plate
    out = {
        # the selection of the job's own version (a reused older version keeps its own)
        "selection": f"results/{wildcards.version}/selection/sky/selection-sky-{plate}.csv",
        "survey": get_survey_inputs(),
    }
    if config["input"] != "spec_files" and SKY["calibration"] == "bosz":
        fv = step_version("flux_calibration")
        out["fluxcal"] = [
            f"results/{fv}/fluxcal/{plate}/{mjd}" for mjd in mjds_of_plate(plate)
        ]
    if SKY["photometric_table"]:
        out["photometric"] = sdss_config.expand_path(SKY["photometric_table"])
    if SKY["solar_flux_table"]:
        out["solar_flux"] = sdss_config.expand_path(SKY["solar_flux_table"])
    if "sky_flux" in config["reuse"]:
        out["reused_skyflux"] = reused_source(
            "sky_flux", f"sky/{plate}/skyflux-{plate}.fits"
        )
    return out


def get_sky_plate_table_args(wildcards, input):
    """--photometric-table / --solar-flux-table / --reused-skyflux of sky_plate's inputs."""
    args = []
    if "reused_skyflux" in input.keys():
        args.append(f"--reused-skyflux {input.reused_skyflux}")
    if "photometric" in input.keys():
        args.append(f"--photometric-table {input.photometric}")
    if "solar_flux" in input.keys():
        args.append(f"--solar-flux-table {input.solar_flux}")
    return " ".join(args)


def sky_reference_calib():
    """Path pattern ({camera}) of the fixed spFluxcalib of sky.calibration: reference.

    Default on the demo survey: the first exposure of its first plate."""
    ref = SKY["reference_calib"]
    if ref:
        return sdss_config.expand_path(ref)
    if config["input"] == "demo":
        plate, _, expid = DEMO.exposures[0]
        suffix = frame_suffix("spFluxcalib", DEMO.run2d)
        return str(
            DEMO.plate_dir(plate) / f"spFluxcalib-{{camera}}-{expid:08d}{suffix}"
        )
    raise ValueError(
        "sky.reference_calib must be set when sky.calibration is 'reference'"
    )


def get_sky_flux_args(wildcards):
    """CLI options of sky_flux: the input route and the calibration settings."""
    bits = ",".join(SKY["bad_mask_bits"])
    if config["input"] == "spec_files":
        spec_dir = sdss_config.expand_path(config["spec_files"]["dir"])
        return f"--spec-dir {spec_dir} --bad-mask-bits {bits}"
    args = (
        f"--plate-dir {plate_dir(wildcards)} --calibration {SKY['calibration']}"
        f" --bad-mask-bits {bits} --fiber-loss-factor {SKY['fiber_loss_factor']}"
    )
    if SKY["calibration"] == "reference":
        args += f" --reference-calib '{sky_reference_calib()}'"
    if SKY["calibration"] == "bosz":
        fv = step_version("flux_calibration")
        args += f" --fluxcal-dir results/{fv}/fluxcal/{wildcards.plate}"
    if not SKY["spcframe_mask"]:
        args += " --no-spcframe-mask"
    return args


def get_sky_products_args():
    """CLI options of the steps after sky_flux (line list, filters, mean grid, continuum)."""
    args = [
        f"--filters={shlex.quote(','.join(SKY['filters']))}",
        f"--dloglam {SKY['mean_dloglam']}",
        f"--knot-spacing {SKY['continuum']['knot_spacing']}",
        f"--clip {SKY['continuum']['clip']}",
    ]
    if SKY["line_list"]:
        args.append(f"--line-list {SKY['line_list']}")
    if SKY["airglow_lines"]:
        args.append(f"--airglow {SKY['airglow_lines']}")
    return " ".join(args)


def get_sky_mega_args(wildcards=None):
    """CLI options of mega_file / mean_mega_file: the good cuts of sky.good."""
    good = SKY["good"]
    args = []
    if good["bad_plates"]:
        args.append("--bad-plates " + ",".join(str(p) for p in good["bad_plates"]))
    if good["exclude_flags"]:
        args.append("--exclude-flags " + ",".join(good["exclude_flags"]))
    if good["bad_quality"]:
        args.append("--bad-quality " + ",".join(good["bad_quality"]))
    for col, (lo, hi) in good["ranges"].items():
        lo_s = "" if lo is None else str(lo)
        hi_s = "" if hi is None else str(hi)
        args.append(f"--range {col}:{lo_s}:{hi_s}")
    return " ".join(args)


def get_sky_tables(kind):
    """Per-plate line tables (kind 'lines' or 'meanlines') of every sky plate."""
    return [f"{sky_dir()}/{plate}/{kind}-{plate}.fits" for plate in SKY_PLATES]


# ---------------------------------------------------------------- sky model (issue 14)
SKY_MODEL = config["sky_model"]


def get_sky_spectra_means(wildcards):
    """Mean spectra of every sky plate (one edge per plate)."""
    return [
        f"{sky_dir(wildcards.version)}/{plate}/mean-{plate}.fits"
        for plate in SKY_PLATES
    ]


def get_skymodel_targets():
    """The survey sky spectra and the sky model (when enabled and there are sky plates)."""
    if not (SKY_PLATES and SKY_MODEL["enabled"]):
        return []
    return [
        f"{sky_dir()}/sky_spectra",
        f"{sky_dir()}/sky_model.fits",
        f"{sky_dir()}/sky_model_report",
    ]


# ---------------------------------------------------------------- bosz + fluxcal
BOSZ = config["bosz"]
FLUXCAL = config["fluxcal"]


def bosz_base_url():
    """bosz.base_url, or 'auto': the demo mirror (file://) for input demo, MAST otherwise."""
    url = BOSZ["base_url"]
    if url != "auto":
        return url
    if config["input"] == "demo":
        return DEMO.bosz_mirror.resolve().as_uri()
    return "https://archive.stsci.edu/hlsps/bosz/bosz2024/"


def bosz_subgrid():
    """bosz.subgrid spec, or 'auto': the demo mirror's subgrid for input demo, else
    kspecdr's F-star subgrid of 520 files (sdssflow/data/fluxcal/subgrid_kspecdr_fstar.yaml).
    """
    spec = BOSZ["subgrid"]
    if spec != "auto":
        return sdss_config.expand_path(spec)
    if config["input"] == "demo":
        return str(DEMO.bosz_mirror / "demo_subgrid.yaml")
    return str(data_path("fluxcal/subgrid_kspecdr_fstar.yaml"))


def bosz_manifest():
    """The manifest bosz_download writes (its only declared output)."""
    return f"{BOSZ['dest']}/manifest.csv"


def get_bosz_dest(wildcards, output):
    """The mirror directory bosz_download fills: the folder of its manifest."""
    return str(Path(output.manifest).parent)


def get_bosz_download_input(wildcards=None):
    """The demo survey (its mirror and subgrid spec) for input demo; the spec otherwise."""
    if config["input"] == "demo" and BOSZ["subgrid"] == "auto":
        return {"survey": get_survey_inputs()}
    return {"survey": get_survey_inputs(), "subgrid": bosz_subgrid()}


def fluxcal_photometry():
    """fluxcal.photometry, or 'auto': the demo's Refcat2-like CSV for input demo."""
    path = FLUXCAL["photometry"]
    if path != "auto":
        return sdss_config.expand_path(path)
    if config["input"] == "demo":
        return str(DEMO.photometry)
    raise ValueError(
        "fluxcal.photometry must be set (a Refcat2-like CSV) unless input is demo"
    )


def get_flux_calibration_input(wildcards):
    """Selection table, BOSZ library, photometry and the survey files of a plate-MJD.

    The demo's photometry is written by demo_survey (behind its manifest), so it is
    only an input of its own for a real survey; the shell takes it from params."""
    out = {
        "selection": get_selection("fluxcal").format(plate=wildcards.plate),
        "library": f"results/{step_version('bosz_library')}/bosz/bosz_library.h5",
        "survey": get_survey_inputs(),
    }
    if config["input"] != "demo" or FLUXCAL["photometry"] != "auto":
        out["photometry"] = fluxcal_photometry()
    return out


def get_flux_calibration_args(wildcards):
    """CLI options of flux_calibration from the fluxcal block."""
    f = FLUXCAL
    args = [
        f"--plate-dir {plate_dir(wildcards)}",
        f"--bands {','.join(f['bands'])}",
        f"--telluric {sdss_config.expand_path(f['telluric'])}" if f["telluric"] else "",
        f"--knot-spacing {f['knot_spacing']} --degree {f['degree']}",
        f"--rv-max {f['rv_max']} --rv-step {f['rv_step']}",
        f"--nsigma {f['nsigma']} --min-snr {f['min_snr']}",
        f"--match-radius {f['match_radius']} --mag-floor {f['mag_floor']}",
        "" if f["qc"] else "--no-qc",
    ]
    return " ".join(a for a in args if a)


def fluxcal_plate_mjds():
    """(plate, mjd) jobs of flux_calibration: none for input spec_files (no frames)."""
    if config["input"] == "spec_files":
        return []
    if config["input"] != "demo" and FLUXCAL["photometry"] == "auto":
        return []
    return PLATE_MJDS


def get_fluxcal_summary_input(wildcards):
    """Every plate-MJD directory of flux_calibration of this version."""
    return [
        f"results/{wildcards.version}/fluxcal/{p}/{m}" for p, m in fluxcal_plate_mjds()
    ]


# ---------------------------------------------------------------- mwm
MWM = config["mwm"]


def mwm_templates(version=None):
    """RV templates / NMF training set: the bosz_library product or a configured path."""
    if MWM["templates"] == "bosz":
        return f"results/{step_version('bosz_library') if version is None else version}/bosz/bosz_library.h5"
    return sdss_config.expand_path(MWM["templates"])


def get_apogee_templates_input(wildcards=None):
    """Source of the APOGEE RV templates (mwm.apogee_templates): the bosz_download manifest
    (its folder is the mirror) or a mirror directory."""
    value = MWM["apogee_templates"]
    return bosz_manifest() if value == "bosz" else sdss_config.expand_path(value)


def get_mwm_visit_templates_input(wildcards):
    """The apogee_templates product of the version for mwm_bucket, or none
    (mwm.apogee_templates empty)."""
    if not MWM["apogee_templates"]:
        return {}
    return {
        "apogee_templates": f"results/{wildcards.version}/mwm/apogee_rv_templates.fits"
    }


def get_mwm_apogee_templates_arg(wildcards, input):
    """--apogee-templates FILE for mwm_bucket (the apogee_templates product), or nothing."""
    if "apogee_templates" not in input.keys():
        return ""
    return f"--apogee-templates {input.apogee_templates}"


def mwm_apogee_dirs():
    """Directories searched for apVisit / apStar files by mwm_index."""
    dirs = []
    if config["input"] == "demo":
        dirs.append(str(DEMO.apogee_redux / DEMO.apred))
    elif config["input"] == "sdss":
        root = apogee_redux_root()  # '' without apogee.redux and without sdss.release
        if root and Path(root).is_dir():
            dirs.append(root)
    dirs += [str(sdss_config.expand_path(d)) for d in MWM["apogee_dirs"]]
    return dirs


def mwm_source_ids():
    """sdss_ids of the survey, known at parse time without opening per-source files.

    demo: the demo plan; spec_files: legacy ids from spec-PLATE-MJD-FIBER names and the SPALL
    SDSS_ID of SDSS-V spec-FIELD6-MJD-CATALOGID files (`spec_file_sdss_id`); sdss: the
    `mwm.sources` CSV; plus legacy ids of 2MASS-named files in `mwm.apogee_dirs`.
    """
    from snakemake.logging import logger

    from sdssflow.io.mwm_grids import legacy_apogee_sdss_id, spec_file_sdss_id
    from sdssflow.synth.layout import demo_sources

    ids = set()
    if config["input"] == "demo":
        ids |= {s.sdss_id for s in demo_sources(DEMO)}
    elif config["input"] == "spec_files":
        spec_dir = Path(sdss_config.expand_path(config["spec_files"]["dir"]))
        unusable = []
        for p in find_fits(spec_dir, "spec-*"):
            try:
                ids.add(spec_file_sdss_id(p))
            except ValueError as err:  # one file left out, named; the survey goes on
                unusable.append(str(err))
        if unusable:
            logger.warning(
                f"MWM: {len(unusable)} spec file(s) left out: "
                + "; ".join(unusable[:5])
                + (f"; and {len(unusable) - 5} more" if len(unusable) > 5 else "")
            )
    if MWM["sources"]:
        import pandas as pd

        ids |= set(
            pd.read_csv(sdss_config.expand_path(MWM["sources"]))["sdss_id"].astype(int)
        )
    for d in MWM["apogee_dirs"]:
        for p in find_fits(sdss_config.expand_path(d), "a?[SV]*-*2M*"):
            m = re.search(r"2M\d{8}[+-]\d{7}", p.name)
            if m:
                ids.add(legacy_apogee_sdss_id(m.group(0)))
    return sorted(ids)


def mwm_buckets():
    """Sorted GG/HH buckets holding at least one source."""
    from sdssflow.io.mwm_grids import buckets_of

    return buckets_of(mwm_source_ids())


MWM_BUCKETS = mwm_buckets()


def mwm_bucket_jobs():
    """The mwm_bucket jobs: 'GG/HH' per bucket (mwm.bucket: gghh) or 'GG' (mwm.bucket: gg)."""
    if MWM["bucket"] == "gg":
        return sorted({gg for gg, _ in MWM_BUCKETS})
    return [f"{gg}/{hh}" for gg, hh in MWM_BUCKETS]


MWM_JOBS = mwm_bucket_jobs()


def mwm_spec_files(plate):
    """Spec files of one plate or field, all its MJDs (input: spec_files; PPPP or FIELD6 names)."""
    spec_dir = Path(sdss_config.expand_path(config["spec_files"]["dir"]))
    return [
        str(p)
        for mjd in mjds_of_plate(plate)
        for p in find_fits(spec_dir, f"spec-*-{int(mjd):05d}-*")
        if int(p.name.split("-")[1]) == int(plate)
    ]


def get_boss_visits_input(wildcards):
    """Selection table and survey files (frames), or the plate's spec files; templates."""
    out = {"templates": mwm_templates(), "survey": get_survey_inputs()}
    if config["input"] == "spec_files":
        out["spec"] = mwm_spec_files(wildcards.plate)
    else:
        out["selection"] = get_selection("mwm").format(plate=wildcards.plate)
    return out


def get_boss_visits_args(wildcards, input):
    """CLI options of boss_visits for the configured input route and the plate's MJDs."""
    mjds = "--mjds " + ",".join(f"{m:05d}" for m in mjds_of_plate(wildcards.plate))
    if config["input"] == "spec_files":
        return f"{mjds} --spec-files " + " ".join(input.spec)
    run2d = DEMO.run2d if config["input"] == "demo" else config["boss"]["run2d"]
    return (
        f"{mjds} --plate-dir {plate_dir(wildcards)} --selection {input.selection}"
        f" --run2d {run2d}"
    )


def boss_visits_dir(plate, version=None):
    """results/<version>/mwm/boss_visits/<plate>: the boss_visits job's directory of the
    plate's bossVisits-<plate>-<mjd>.fits files (one per MJD)."""
    return f"results/{version or VERSION}/mwm/boss_visits/{plate}"


def get_boss_visits_dirs(wildcards):
    """The bossVisits directory of every plate of this version (one edge per plate)."""
    return [boss_visits_dir(p, wildcards.version) for p in PLATES]


def get_boss_visits_files(wildcards):
    """Every bossVisits file of this version, one per plate-MJD, inside those directories."""
    return [
        f"{boss_visits_dir(p, wildcards.version)}/bossVisits-{p}-{m:05d}.fits"
        for p, m in PLATE_MJDS
    ]


def get_mwm_index_input(wildcards):
    """The list of bossVisits files (boss_visits_list) and the survey."""
    return {
        "visits": f"results/{wildcards.version}/mwm/boss_visits/boss_visits.txt",
        "survey": get_survey_inputs(),
    }


def get_mwm_index_args(wildcards=None):
    return " ".join(f"--apogee-dir {d}" for d in mwm_apogee_dirs())


def get_mwm_basis_input(wildcards):
    return {"templates": mwm_templates()} if MWM["nmf_source"] == "bosz" else {}


def get_mwm_status_input(wildcards):
    """Status tables of every mwm_bucket job (one edge per job) and the index."""
    return {
        "status": [
            f"results/{wildcards.version}/spectra/status/{job}/status.fits"
            for job in MWM_JOBS
        ],
        "index": f"results/{wildcards.version}/mwm/index",
    }


# ---------------------------------------------------------------- problems (survey-wide)
def get_problems_input(wildcards):
    """Every product whose STATUS the problem table reads (one edge per plate on the sky)."""
    v = wildcards.version
    out = {"catalog": f"results/{v}/catalog/exposures.h5"}
    if config["input"] != "spec_files":
        out["skyflux"] = [f"results/{v}/sky/{p}/skyflux-{p}.fits" for p in SKY_PLATES]
    if fluxcal_plate_mjds():
        out["fluxcal"] = f"results/{v}/fluxcal/fluxcal_summary.fits"
    if MWM_BUCKETS:
        out["visits"] = f"results/{v}/mwm/boss_visits/boss_visits.txt"
        out["index"] = f"results/{v}/mwm/index"
        out["mwm_status"] = f"results/{v}/spectra/mwm_status.fits"
    library = f"results/{step_version('bosz_library')}/bosz/bosz_library.h5"
    if fluxcal_plate_mjds() or (MWM_BUCKETS and mwm_templates() == library):
        out["bosz"] = library.replace(".h5", "_status.csv")
    return out


def get_problems_args(wildcards, input):
    """CLI options of the problems step for the inputs present."""
    names = {
        "catalog": "--catalog", "fluxcal": "--fluxcal-summary", "visits": "--boss-visits-list",
        "index": "--mwm-index", "mwm_status": "--mwm-status", "bosz": "--bosz-status",
    }  # fmt: skip
    args = [f"{opt} {input[key]}" for key, opt in names.items() if key in input.keys()]
    if "skyflux" in input.keys() and input.skyflux:
        args.append("--skyflux " + " ".join(input.skyflux))
    return " ".join(args)


def get_problems_targets():
    return [f"results/{VERSION}/problems.fits", f"results/{VERSION}/problems.csv"]


# ---------------------------------------------------------------- report (QC figures of --report)
#: The report shows examples, not the survey: the first plate-MJDs, spectra and buckets.
REPORT_N_PLATE_MJDS = 2
#: Candidates handed to the sky/fluxcal figures, which show the first that hold data.
REPORT_N_CANDIDATES = 8
REPORT_MAX_SPECTRA = 4
REPORT_MAX_STARS = 3


def report_dir():
    """results/<version>/report: the figures and tables of `snakemake --report`."""
    return f"results/{VERSION}/report"


def get_report_calibration_input(wildcards):
    """flux_calibration directories of the first plate-MJDs (candidates: the figure shows
    the first REPORT_N_PLATE_MJDS that hold calibration files)."""
    fv = step_version("flux_calibration")
    return [
        f"results/{fv}/fluxcal/{p}/{m}"
        for p, m in fluxcal_plate_mjds()[:REPORT_N_CANDIDATES]
    ]


def get_report_mean_sky_input(wildcards):
    """Continuum fits of the first sky plates (candidates: the figure shows the first
    spectra with data, up to REPORT_MAX_SPECTRA)."""
    return [
        f"{sky_dir()}/{plate}/contfit-{plate}.fits"
        for plate in SKY_PLATES[:REPORT_N_CANDIDATES]
    ]


def get_report_mwm_input(wildcards):
    """The survey's MWM status table: the example mwmStar files are taken from the sources
    it lists as created (the first buckets may hold none on real data)."""
    return f"results/{VERSION}/spectra/mwm_status.fits"


def get_report_benchmarks_input(wildcards):
    """The survey-level products: the benchmark table is made once every job is done.

    Every per-plate job is upstream of one of them (a plate's selections of the problem
    table through its sky_plate or boss_visits job, its sky products of the mega files),
    so the per-plate files need not be listed (10^4 edges fewer at survey scale).
    """
    return (
        get_problems_targets()
        + get_catalog_targets()
        + get_unconsumed_selection_targets()
        + get_sky_targets()
        + get_skymodel_targets()
        + get_fluxcal_targets()
        + get_mwm_targets()
    )


def get_report_targets():
    """Figures (and the benchmark table) of the families that have products."""
    out = [f"{report_dir()}/benchmarks.png"]
    if fluxcal_plate_mjds():
        out.append(f"{report_dir()}/calibration_vectors.png")
    if SKY_PLATES:
        out += [f"{report_dir()}/sky_lines.png", f"{report_dir()}/mean_sky.png"]
    if MWM_BUCKETS:
        out.append(f"{report_dir()}/mwm_stars.png")
    return out


# ---------------------------------------------------------------- targets
def get_catalog_targets():
    return [f"results/{VERSION}/catalog/exposures.h5"]


def get_selection_targets():
    return [
        f"results/{VERSION}/selection/{step}/selection-{step}-{plate}.csv"
        for step in STEPS_WITH_SELECTION
        for plate in PLATES
    ]


def get_unconsumed_selection_targets():
    """Selection tables of plates that no sky_plate, boss_visits or flux_calibration job
    reads (made by their select_exposures job all the same: the step's QA product)."""
    consumed = {p for p, _ in fluxcal_plate_mjds()}
    if "sky_plate" not in config["reuse"]:  # a linked sky product reads no selection
        consumed |= set(SKY_PLATES)
    if MWM_BUCKETS:
        consumed |= set(PLATES)
    return [
        f"results/{VERSION}/selection/{STEPS_WITH_SELECTION[0]}/selection-{STEPS_WITH_SELECTION[0]}-{plate}.csv"
        for plate in PLATES
        if plate not in consumed
    ]


def get_sky_targets():
    """Mega files of the sky family (every plate's sky_plate job is upstream of them)."""
    if not SKY_PLATES:
        return []
    mega = [
        f"{sky_dir()}/{p}sky_meta_{k}.fits"
        for p in ("", "mean_")
        for k in ("all", "good", "removed")
    ]
    # a plate's contfit comes from the sky_plate job that makes its line tables
    return mega


def get_fluxcal_targets():
    """The survey summary of the flux calibration (it needs every plate-MJD)."""
    if not fluxcal_plate_mjds():
        return []
    return [f"results/{VERSION}/fluxcal/fluxcal_summary.fits"]


def get_mwm_targets():
    """The survey status table of the MWM products (needs every bucket)."""
    if not MWM_BUCKETS:
        return []
    return [f"results/{VERSION}/spectra/mwm_status.fits"]


def get_final_output():
    """Everything `snakemake` builds by default."""
    return (
        get_catalog_targets()
        + get_unconsumed_selection_targets()
        + get_sky_targets()
        + get_skymodel_targets()
        + get_fluxcal_targets()
        + get_mwm_targets()
        + get_problems_targets()
        + get_report_targets()
    )


def _know_signatures(namespace):
    """with_known_signature for every input/params function (get_*) defined above."""
    for name, value in list(namespace.items()):
        if name.startswith("get_") and inspect.isfunction(value):
            with_known_signature(value)


_know_signatures(globals())
