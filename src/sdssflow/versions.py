"""Reduction versions: link a step's products from an older version (MuseRed ``copy_reduced``).

``python -m sdssflow.versions link --source results/v0/X --target results/v1/X`` hard-links
(or, across file systems, copies) one product. The product keeps the VERSION keyword of
the version that made it, so its header stays honest about its origin.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from pathlib import Path

from sdssflow.io.products import atomic_path
from sdssflow.steps import StepError, run_step

__all__ = ["REUSE_PATTERNS", "REUSED_INSIDE_STEP", "link_product", "reused_path_regex", "main"]

log = logging.getLogger(__name__)

#: File products of each reusable step, as regexes of paths below results/<version>/: the
#: link_reused rule hard-links them.
REUSE_PATTERNS = {
    "exposure_catalog": r"catalog/exposures\.h5",
    "bosz_library": r"bosz/bosz_library(?:\.h5|_status\.csv)",
    # the six products of a plate's sky chain (one sky_plate job)
    "sky_plate": r"sky/\d+/(?:skyflux|rich|lines|mean|meanlines|contfit)-\d+\.fits",
    "mega_file": r"sky/sky_meta_(?:all|good|removed)\.fits",
    "mean_mega_file": r"sky/mean_sky_meta_(?:all|good|removed)\.fits",
}

#: Reusable steps whose product the job of another step links itself (that job then runs
#: the rest of its chain): sky_flux's skyflux, linked by sky_plate (``--reused-skyflux``).
REUSED_INSIDE_STEP = {"sky_flux": "sky_plate"}


def link_product(source: str | os.PathLike, target: str | os.PathLike) -> str:
    """Hard-link ``source`` to ``target`` (copy if linking is impossible); return the method."""
    source, target = Path(source), Path(target)
    if not source.is_file():
        raise StepError(f"{source}: product to reuse does not exist")
    with atomic_path(target) as tmp:
        try:
            os.link(source, tmp)
            method = "hard link"
        except OSError:
            shutil.copy2(source, tmp)
            method = "copy"
    log.info("%s -> %s (%s)", source, target, method)
    return method


def reused_path_regex(reuse: dict, step_patterns: dict) -> str:
    """Regex of the result paths (below results/<version>/) that come from older versions.

    Parameters
    ----------
    reuse : dict
        ``reuse:`` of the config: step -> older version.
    step_patterns : dict
        step -> regex of its products' paths below results/<version>/.

    Returns
    -------
    str
        An alternation, or a regex that matches nothing when no step is reused.

    Examples
    --------
    >>> reused_path_regex({}, {"a": "x"})
    '(?!)'
    >>> reused_path_regex({"a": "v0"}, {"a": r"cat/x\\.h5", "b": "y"})
    '(?:cat/x\\\\.h5)'
    """
    parts = [step_patterns[step] for step in reuse if step in step_patterns]
    return "(?:" + "|".join(parts) + ")" if parts else "(?!)"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    link = sub.add_parser("link", help="link one product of an older version")
    link.add_argument("--source", required=True)
    link.add_argument("--target", required=True)
    args = parser.parse_args(argv)
    link_product(args.source, args.target)


if __name__ == "__main__":
    sys.exit(run_step(main))
