"""Checks of the configuration that a JSON schema cannot express, and what it implies.

The schema (``workflow/schemas/config.schema.yaml``) checks keys and types and fills
defaults; :func:`check_config` then checks paths, selection queries, reuse steps and flag
names, so that every mistake fails before any job runs, with the key in the message.
"""

from __future__ import annotations

import ast
import logging
import os
import re
from functools import cache
from pathlib import Path

import pandas as pd

from sdssflow import flags as qa_flags
from sdssflow import flags_apply
from sdssflow.catalog.query import QueryError, evaluate_query, parse_query
from sdssflow.io.catalog_model import empty_exposure_table
from sdssflow.io.spplate import plate_dir_number
from sdssflow.resources import PKG_PREFIX, resolve_data_reference
from sdssflow.synth.layout import demo_plan
from sdssflow.versions import REUSE_PATTERNS, REUSED_INSIDE_STEP

__all__ = [
    "ConfigError",
    "REUSABLE_STEPS",
    "check_config",
    "expand_path",
    "boss_run2d_dir",
    "sdss_paths_of",
    "plate_dir",
    "apogee_apred_dir",
    "plate_mjds",
    "check_query",
    "check_relative_name",
    "resolve_repository_paths",
]

log = logging.getLogger(__name__)

#: Config keys naming a directory below a root: one relative path, without ``..``.
NAME_PATH_KEYS = (("boss", "run2d"), ("apogee", "apred"), ("demo", "run2d"), ("demo", "apred"))

#: Config keys holding paths that default to files shipped in the repository or package.
REPOSITORY_PATH_KEYS = (("flags_file",), ("fluxcal", "telluric"), ("spec_files", "dir"))

#: Steps whose products `reuse:` may take from an older version.
REUSABLE_STEPS = (*REUSE_PATTERNS, *REUSED_INSIDE_STEP)

_SPPLATE = re.compile(r"^sp(?:Plate|Field)-(\d{4,6})-(\d{5})\.fits(\.gz)?$")
#: Plate era ``spec-PPPP-MMMMM-FFFF`` and SDSS-V ``spec-<FIELD6>-<MJD>-<CATALOGID>``.
_SPECFILE = re.compile(r"^spec-(\d{4,6})-(\d{5})-(\d{4,})\.fits(\.gz)?$")


class ConfigError(ValueError):
    """The configuration is wrong; the message starts with the offending key."""


def expand_path(value: str) -> str:
    """Expand ``$VARS`` and ``~``; an unset variable expands to the empty string."""
    expanded = os.path.expanduser(os.path.expandvars(value or ""))
    return re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", "", expanded)


def sdss_paths_of(config: dict):
    """The :class:`sdssflow.paths.SdssPaths` of the input, or None.

    demo: the demo tree's release below the demo root; sdss: ``sdss.release`` below
    ``sdss.sas_base_dir`` when ``sdss.release`` is set (else None: the ``boss.redux`` and
    ``apogee.redux`` directories are used as they are); spec_files: None.
    """
    from sdssflow.paths import sdss_paths

    if config["input"] == "demo":
        return demo_plan(config["demo"]).paths
    block = config.get("sdss", {})
    if config["input"] != "sdss" or not block.get("release"):
        return None
    return sdss_paths(
        block["release"], expand_path(block["sas_base_dir"]), expand_path(block.get("sdsscore_dir", ""))
    )


def boss_run2d_dir(config: dict) -> Path:
    """``$BOSS_SPECTRO_REDUX/<run2d>`` of the configured input."""
    if config["input"] == "demo":
        plan = demo_plan(config["demo"])
        return plan.boss_redux / plan.run2d
    paths = sdss_paths_of(config)
    if paths is not None:
        return paths.root("BOSS_SPECTRO_REDUX") / config["boss"]["run2d"]
    return Path(expand_path(config["boss"]["redux"])) / config["boss"]["run2d"]


def apogee_apred_dir(config: dict) -> Path | str:
    """``$APOGEE_REDUX/<apred>`` of the configured input, or '' when there is none.

    A release whose sdss-tree has no ``APOGEE_REDUX`` (DR18: BOSS and catalogs only, its
    APOGEE data are DR17's) has no APOGEE input: '' and a warning naming the release.
    """
    if config["input"] == "demo":
        plan = demo_plan(config["demo"])
        return plan.apogee_redux / plan.apred
    paths = sdss_paths_of(config)
    if paths is not None:
        try:
            return paths.root("APOGEE_REDUX") / config["apogee"]["apred"]
        except KeyError as err:
            _warn_once(f"sdss.release {paths.release}: {err.args[0]}; no APOGEE inputs are read")
            return ""
    root = expand_path(config["apogee"]["redux"])
    return Path(root) / config["apogee"]["apred"] if root else ""


@cache
def _warn_once(message: str) -> None:
    # asked once per job of a DAG; one line is enough
    log.warning(message)


def plate_dir(config: dict, plate: int, mjd: int) -> Path:
    """The directory of one plate's (or FPS field's) spPlate/spField and frame files.

    From the sdss-access spPlate (plate era) or spField (SDSS-V) template when the input
    has a release, else the plate's directory on disk below ``<boss.redux>/<run2d>``
    (``PPPP``, ``<FIELDID>p`` or ``<FIELD6>``; see :func:`_local_plate_dir`).
    """
    if config["input"] == "demo":
        return demo_plan(config["demo"]).plate_dir(int(plate))
    paths = sdss_paths_of(config)
    if paths is None:
        return _local_plate_dir(boss_run2d_dir(config), int(plate))
    run2d = config["boss"]["run2d"]
    if paths.plate_era:
        return paths.directory("spPlate", run2d=run2d, plateid=int(plate), mjd=int(mjd))
    return paths.directory("spField", run2d=run2d, fieldid=int(plate), mjd=int(mjd))


def _plate_dir_names(plate: int) -> tuple[str, ...]:
    """The names a plate's (field's) directory has below ``<run2d>``, by reduction.

    idlspec2d v5 (plate era): ``PPPP`` (4 digits or more, ``0266``, ``10000``); v6_0_x
    (DR18, sdss-access ``@isplate|``): ``<FIELDID>p`` (``15000p``); v6_1 on (DR19,
    ``@pad_fieldid|``): the field padded to 6 digits (``015000``).
    """
    return tuple(dict.fromkeys((f"{plate:04d}", f"{plate}p", f"{plate:06d}")))


def _local_plate_dir(run2d_dir: Path, plate: int) -> Path:
    """The directory of a plate below a local ``<run2d>`` (no release): the one on disk.

    Without a release the run2d does not say which layout the tree has, so each name
    :func:`_plate_dir_names` allows is tried; none on disk gives the plate-era ``PPPP``
    (the step then names the missing directory).
    """
    for name in _plate_dir_names(plate):
        if (run2d_dir / name).is_dir():
            return run2d_dir / name
    return run2d_dir / f"{plate:04d}"


def _release_plate_mjds(config: dict, paths) -> set[tuple[int, int]]:
    """(plate, mjd) pairs from sdss-access ``expand`` of spPlate (plate era) or spField."""
    run2d = config["boss"]["run2d"]
    wanted = {int(p) for p in config["boss"].get("plates", [])}
    filetype = "spPlate" if paths.plate_era else "spField"
    pairs = set()
    for path in paths.expand(filetype, run2d=run2d):
        # the basename of both templates is sp{Plate,Field}-<id>-<mjd>.fits (sdss-access's
        # extract() gives the same, 1 ms per file slower)
        m = _SPPLATE.match(path.name)
        if m:
            pair = (int(m.group(1)), int(m.group(2)))
            if not wanted or pair[0] in wanted:
                pairs.add(pair)
    return pairs


def plate_mjds(config: dict) -> list[tuple[int, int]]:
    """(plate, mjd) pairs of the survey, known without opening any file.

    demo: from the demo plan; sdss: from ``spPlate-PPPP-MMMMM.fits`` (``spField-``) names
    in the plate directories (``PPPP``, ``<FIELDID>p``, ``<FIELD6>``; a name whose plate is not its directory's is skipped with a warning);
    spec_files: from ``spec-PPPP-MMMMM-FFFF.fits`` names.
    """
    if config["input"] == "demo":
        return demo_plan(config["demo"]).plate_mjds
    pairs: set[tuple[int, int]] = set()
    paths = sdss_paths_of(config)
    if paths is not None:
        pairs = _release_plate_mjds(config, paths)
    elif config["input"] == "sdss":
        wanted = {int(p) for p in config["boss"].get("plates", [])}
        with os.scandir(boss_run2d_dir(config)) as plates:
            for entry in plates:
                # PPPP, <FIELDID>p (v6_0_x, DR18) and <FIELD6> (DR19) directories alike
                number = plate_dir_number(entry.name)
                if not entry.is_dir() or number is None:
                    continue
                if wanted and number not in wanted:
                    continue
                with os.scandir(entry.path) as files:
                    for f in files:
                        m = _SPPLATE.match(f.name)
                        if m and int(m.group(1)) != number:
                            log.warning(
                                "%s: plate %s in the name disagrees with its directory %s; skipped "
                                "(the exposure catalog records it)", f.path, int(m.group(1)), entry.name,
                            )
                        elif m:
                            pairs.add((int(m.group(1)), int(m.group(2))))
    else:
        for path in Path(expand_path(config["spec_files"]["dir"])).rglob("spec-*.fits*"):
            m = _SPECFILE.match(path.name)
            if m:
                pairs.add((int(m.group(1)), int(m.group(2))))
    return sorted(pairs)


def check_relative_name(key: str, value: str | None) -> None:
    """Refuse an absolute or ``..``-containing value of a directory-name key.

    ``run2d`` and ``apred`` name a directory below a reduction root; an absolute path
    or a ``..`` component would silently read (or the demo write) somewhere else.

    Raises
    ------
    ConfigError
        ``<key>: ...`` with the value.
    """
    if not value:
        return
    text = str(value)
    expanded = expand_path(text)
    if os.path.isabs(expanded) or text.startswith(("/", "~", "\\")):
        raise ConfigError(f"{key}: {text!r} is an absolute path; give a directory name below the reduction root")
    parts = re.split(r"[/\\]", expanded)
    if ".." in parts:
        raise ConfigError(f"{key}: {text!r} contains '..'; give a directory name below the reduction root")


def check_query(name: str, query: str, columns: pd.DataFrame | None = None) -> ast.Expression:
    """Check a selection query against the grammar of :mod:`sdssflow.catalog.query`.

    The query is parsed with ``ast`` (never evaluated as Python or pandas code), refused
    if it uses anything outside the grammar, and its type is inferred on the typed
    columns of an empty exposure catalog: it must be a boolean per row. Evaluating it on
    that empty table then checks that it runs.

    Parameters
    ----------
    name : str
        Key of ``selections`` (for the message).
    query : str
        The query.
    columns : pandas.DataFrame, optional
        Typed table to check against; default the empty exposure catalog.

    Returns
    -------
    ast.Expression
        The checked tree (:func:`sdssflow.catalog.query.evaluate_query` runs it).

    Raises
    ------
    ConfigError
        ``selections.<name>: invalid query '<query>': <reason>``.
    """
    table = empty_exposure_table() if columns is None else columns
    try:
        tree = parse_query(query, table)
        evaluate_query(tree, table.iloc[:0])
    except QueryError as err:
        raise ConfigError(f"selections.{name}: invalid query {query!r}: {err}") from None
    return tree


def resolve_repository_paths(config: dict, basedir: str | os.PathLike) -> dict:
    """Make relative repository paths work from any working directory.

    A relative path of :data:`REPOSITORY_PATH_KEYS` that does not exist below the working
    directory but does below ``basedir`` (the directory of the Snakefile) is replaced by
    the latter, so ``snakemake -d elsewhere`` still finds ``config/flags.csv``. A value
    ``pkg:<relative>`` names a file shipped in the package (``sdssflow/data/<relative>``)
    and is replaced by its absolute path. The config is changed in place and returned.

    Raises
    ------
    ConfigError
        A ``pkg:`` value names no packaged file (the message gives the key).
    """
    for keys in REPOSITORY_PATH_KEYS:
        block = config
        for key in keys[:-1]:
            block = block.get(key, {})
        value = block.get(keys[-1])
        if isinstance(value, str) and value.startswith(PKG_PREFIX):
            try:
                block[keys[-1]] = resolve_data_reference(value)
            except FileNotFoundError as err:
                raise ConfigError(f"{'.'.join(keys)}: {err}") from None
            continue
        if not value or os.path.isabs(expand_path(value)):
            continue
        here, there = Path(expand_path(value)), Path(basedir) / expand_path(value)
        if not here.exists() and there.exists():
            block[keys[-1]] = str(there)
    return config


def check_config(config: dict) -> None:
    """Check what the schema cannot: paths, queries, reuse steps, flag names.

    Parameters
    ----------
    config : dict
        Validated config with defaults filled.

    Raises
    ------
    ConfigError
        The message starts with the offending key.
    """
    for keys in NAME_PATH_KEYS:
        check_relative_name(".".join(keys), config.get(keys[0], {}).get(keys[1]))
    kind = config["input"]
    if kind == "sdss" and config.get("sdss", {}).get("release"):
        block = config["sdss"]
        if not expand_path(block["sas_base_dir"]):
            raise ConfigError("sdss.sas_base_dir: empty (set it or $SAS_BASE_DIR) while sdss.release is set")
        try:
            root = boss_run2d_dir(config)
        except (ValueError, KeyError) as err:
            raise ConfigError(f"sdss.release: {err}") from None
        if not root.is_dir():
            raise ConfigError(
                f"sdss.release/boss.run2d: directory {root} (the {block['release']} BOSS_SPECTRO_REDUX "
                f"of sdss-access below {expand_path(block['sas_base_dir'])}) does not exist"
            )
    elif kind == "sdss":
        root = boss_run2d_dir(config)
        if not expand_path(config["boss"]["redux"]):
            raise ConfigError("boss.redux: empty (set it or $BOSS_SPECTRO_REDUX) while input is sdss")
        if not root.is_dir():
            raise ConfigError(f"boss.redux/boss.run2d: directory {root} does not exist")
    if kind == "sdss":
        # a release tree always names an APOGEE_REDUX (dr18 excepted), so a wrong apred (the
        # default 'dr17' below a dr19 tree, whose apreds are 1.x) found no visit, silently
        apogee = apogee_apred_dir(config)
        if apogee and not Path(apogee).is_dir():
            log.warning(
                "apogee.apred: directory %s does not exist; no APOGEE visits are read "
                "(apogee.redux: '' without sdss.release turns APOGEE off)", apogee,
            )
    if kind == "spec_files":
        spec_dir = Path(expand_path(config["spec_files"]["dir"]))
        if not spec_dir.is_dir():
            raise ConfigError(f"spec_files.dir: directory {spec_dir} does not exist")
    if not Path(config["flags_file"]).is_file():
        raise ConfigError(f"flags_file: {config['flags_file']} does not exist (an empty CSV with the header means no flags)")
    registry = qa_flags.load_registry(config.get("flags"))
    try:
        flags_apply.exclude_list(config["exclude_flags"], registry)
    except ValueError as err:
        raise ConfigError(f"exclude_flags: {err}") from None
    for name, query in config["selections"].items():
        check_query(name, query)
    for step in ("sky", "fluxcal", "mwm"):
        block = config.get(step, {})
        selection = block.get("selection", "all")
        if selection not in config["selections"]:
            raise ConfigError(
                f"{step}.selection: {selection!r} is not a key of selections ({', '.join(config['selections'])})"
            )
        if "exclude_flags" in block:
            try:
                flags_apply.exclude_list(block["exclude_flags"], registry)
            except ValueError as err:
                raise ConfigError(f"{step}.exclude_flags: {err}") from None
    for step, old in config["reuse"].items():
        if step not in REUSABLE_STEPS:
            raise ConfigError(f"reuse.{step}: unknown step; reusable steps: {', '.join(REUSABLE_STEPS)}")
        if old == config["version"]:
            raise ConfigError(f"reuse.{step}: {old!r} is the current version")
        if not Path("results", old).is_dir():
            raise ConfigError(f"reuse.{step}: version {old!r} has no results/{old}/ directory")
