"""The ``sdssflow`` command: edit and query the QA flags (MuseRed's QAFlags API as a CLI), and
predict the sky from a fitted sky model (``sdssflow sky predict``, :mod:`sdssflow.sky.model_predict`).

Examples::

    sdssflow flags add --mjd 55503 --plate 4100 --exposure 120005 BAD_SEEING CLOUDY
    sdssflow flags add --mjd 55503 --plate 4100 --exposure 120005 --camera b1 BAD_CAMERA --severity 2
    sdssflow flags remove --mjd 55503 --plate 4100 --exposure 120005 CLOUDY
    sdssflow flags list --plate 4100
    sdssflow flags find BAD_SEEING CLOUDY [--all]
    sdssflow flags registry
    sdssflow sky predict --model results/v1/sky/sky_model.fits --mjd 55500.2 --ra 30 --dec 0 --out pred.fits
    sdssflow --version

The flags file, version and extra flag names default to those of config/config.yaml.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from sdssflow import __version__, flags_apply
from sdssflow import flags as qa_flags

__all__ = ["main"]

_DEFAULT_CONFIG = "config/config.yaml"


def _load_config(path: str) -> dict:
    if not Path(path).exists():
        return {}
    with open(path) as fh:
        return yaml.safe_load(fh) or {}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sdssflow", description="sdssflow command-line tools")
    parser.add_argument("--version", action="version", version=f"sdssflow {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    flags = sub.add_parser("flags", help="edit and query per-exposure QA flags (config/flags.csv)")
    flags.add_argument("--config", default=_DEFAULT_CONFIG, help="config file giving the defaults")
    flags.add_argument("--file", help="flags CSV (default: flags_file of the config)")
    flags.add_argument("--version-name", help="reduction version (default: the config's version)")
    actions = flags.add_subparsers(dest="action", required=True)

    def exposure_options(p, required=True):
        p.add_argument("--observatory", default="apo", choices=["apo", "lco"])
        p.add_argument("--mjd", type=int, required=required)
        p.add_argument("--plate", type=int, required=required, help="plate (or field) id")
        p.add_argument("--exposure", type=int, required=required, help="exposure number; -1 = all of the plate-MJD")
        p.add_argument("--camera", default=None, choices=["b1", "r1", "b2", "r2"])

    add = actions.add_parser("add", help="set flags on one exposure")
    exposure_options(add)
    add.add_argument("names", nargs="+", help="flag names from the registry")
    add.add_argument("--severity", type=int, default=1, help="> 0; 1 warning, 2 bad")
    add.add_argument("--note", default="", help="free-text reason")
    remove = actions.add_parser("remove", help="unset flags on one exposure (all flags if none named)")
    exposure_options(remove)
    remove.add_argument("names", nargs="*")
    listing = actions.add_parser("list", help="flags set on matching exposures")
    exposure_options(listing, required=False)
    find = actions.add_parser("find", help="exposures carrying any (or --all) of the flags")
    find.add_argument("names", nargs="+")
    find.add_argument("--all", action="store_true", help="require every named flag")
    find.add_argument("--min-severity", type=int, default=1)
    actions.add_parser("registry", help="list the known flag names")
    from sdssflow.sky.model_predict import add_parser as add_sky_parser

    add_sky_parser(sub)
    return parser


def _flags_command(args) -> int:
    config = _load_config(args.config)
    registry = qa_flags.load_registry(config.get("flags"))
    path = args.file or config.get("flags_file", "config/flags.csv")
    version = args.version_name or str(config.get("version", "v1"))
    table = qa_flags.read_flags_csv(path, registry)
    if args.action == "registry":
        for name, text in sorted(registry.items()):
            print(f"{name:20s} {text}")
        return 0
    if args.action == "find":
        qa_flags.check_names(args.names, registry)
        found = flags_apply.find_exposures(table, args.names, args.all, args.min_severity, version)
        print(found.to_csv(index=False), end="")
        return 0
    keys = {
        "version": version,
        "observatory": args.observatory,
        "mjd": args.mjd,
        "plate": args.plate,
        "exposure": args.exposure,
        "camera": args.camera,
    }
    if args.action == "list":
        print(qa_flags.list_flags(table, **keys).to_csv(index=False), end="")
        return 0
    if args.action == "add":
        table = qa_flags.add_flags(table, [keys], args.names, registry, args.severity, args.note)
    else:
        if args.names:
            qa_flags.check_names(args.names, registry)
        keys["camera"] = args.camera or ""
        table = qa_flags.remove_flags(table, args.names or None, **keys)
    qa_flags.write_flags_csv(table, path)
    print(f"{path}: {len(table)} flag rows")
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "flags":
            return _flags_command(args)
        if args.command == "sky":
            from sdssflow.sky.model_predict import run as sky_predict

            return sky_predict(args)
    except ValueError as err:
        print(f"sdssflow {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
