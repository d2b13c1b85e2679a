"""Applying the QA flags of :mod:`sdssflow.flags`.

The exposures a flag names, the exclude lists of the config, the flag rows of one plate (the
selection's input) and the filtering of an exposure table by them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from sdssflow.flags import _KEY, FLAG_COLUMNS, check_names

__all__ = ["find_exposures", "exclude_list", "rows_for_plate", "apply_flags"]

log = logging.getLogger(__name__)


def find_exposures(
    frame: pd.DataFrame,
    flags: Iterable[str],
    require_all: bool = False,
    min_severity: int = 1,
    version: str | None = None,
) -> pd.DataFrame:
    """Exposures carrying any (or all) of ``flags`` with severity >= ``min_severity``.

    Returns
    -------
    pandas.DataFrame
        One row per (version, observatory, mjd, plate, exposure) with the matching flags
        joined by spaces.
    """
    flags = list(flags)
    sub = frame[frame["flag"].isin(flags) & (frame["severity"] >= min_severity)]
    if version is not None:
        sub = sub[sub["version"].isin([version, "*"])]
    keys = ["version", "observatory", "mjd", "plate", "exposure"]
    grouped = sub.groupby(keys, as_index=False)["flag"].agg(lambda s: " ".join(sorted(set(s))))
    if require_all:
        grouped = grouped[grouped["flag"].map(lambda s: set(flags) <= set(s.split()))]
    return grouped.reset_index(drop=True)


def exclude_list(exclude_flags: bool | list[str], registry: Mapping[str, str]) -> list[str]:
    """Resolve an ``exclude_flags`` setting to the list of flag names it excludes.

    Parameters
    ----------
    exclude_flags : bool or list of str
        ``True`` excludes every registered flag, ``False`` none, a list the named ones.
    registry : mapping
        Known names; a listed name not in it is an error.

    Examples
    --------
    >>> exclude_list(["CLOUDY"], {"CLOUDY": "", "SATELLITE": ""})
    ['CLOUDY']
    >>> exclude_list(True, {"CLOUDY": "", "SATELLITE": ""})
    ['CLOUDY', 'SATELLITE']
    """
    if exclude_flags is True:
        return sorted(registry)
    if exclude_flags is False or exclude_flags is None:
        return []
    if isinstance(exclude_flags, list | tuple):
        return sorted(check_names(exclude_flags, registry)) if exclude_flags else []
    raise ValueError(
        f"exclude_flags must be true, false or a list of flag names, got {exclude_flags!r}"
    )


def rows_for_plate(frame: pd.DataFrame, version: str, plate: int) -> str:
    """The flag rows of one plate in one version, as a canonical CSV string.

    Used as a rule ``param`` so that Snakemake re-runs exactly the plates whose flags
    changed.
    """
    sub = frame[(frame["plate"] == int(plate)) & frame["version"].isin([version, "*"])]
    sub = sub.sort_values(_KEY, kind="stable")[FLAG_COLUMNS[:-1]]
    return sub.to_csv(index=False, header=False).strip()


def apply_flags(
    exposures: pd.DataFrame, flag_rows: pd.DataFrame, exclude: Iterable[str]
) -> pd.DataFrame:
    """Attach flags to an exposure table and drop the excluded exposures.

    Parameters
    ----------
    exposures : pandas.DataFrame
        One row per exposure with columns observatory, mjd, plate, exposure.
    flag_rows : pandas.DataFrame
        Flag assignments (:data:`FLAG_COLUMNS` without note), already restricted to the
        version.
    exclude : iterable of str
        Flag names that exclude an exposure (exposure-level rows) or a camera
        (camera-level rows).

    Returns
    -------
    pandas.DataFrame
        The kept exposures with two more columns: ``flags`` (space-separated names set
        on the exposure or a camera but not excluding it) and ``excluded_cameras``
        (space-separated cameras dropped by camera-level excluded flags).
    """
    exclude = set(exclude)
    out = exposures.copy()
    flags_col, cams_col, keep = [], [], []
    index = {}
    for row in flag_rows.itertuples(index=False):
        index.setdefault((row.observatory, int(row.mjd), int(row.plate)), []).append(row)
    for exp in out.itertuples(index=False):
        rows = [
            r
            for r in index.get((exp.observatory, int(exp.mjd), int(exp.plate)), [])
            if int(r.exposure) in (-1, int(exp.exposure))
        ]
        drop = any(r.flag in exclude and not r.camera for r in rows)
        cams = sorted({r.camera for r in rows if r.flag in exclude and r.camera})
        kept_flags = sorted(
            {r.flag + (f"[{r.camera}]" if r.camera else "") for r in rows if r.flag not in exclude}
        )
        keep.append(not drop and len(cams) < 4)
        flags_col.append(" ".join(kept_flags))
        cams_col.append(" ".join(cams))
    out["flags"] = flags_col
    out["excluded_cameras"] = cams_col
    n_drop = len(out) - sum(keep)
    if n_drop:
        log.info("%d of %d exposures excluded by flags %s", n_drop, len(out), sorted(exclude))
    return out[np.asarray(keep, dtype=bool)].reset_index(drop=True)
