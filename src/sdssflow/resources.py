"""The data files shipped inside the package (``src/sdssflow/data/``).

Every packaged table is found through :func:`data_path`, which asks
:mod:`importlib.resources` where the installed ``sdssflow`` package lives, so the files are
found from an editable install, a plain ``pip install .`` or a wheel alike. Config values
may name a packaged file as ``pkg:<relative path>`` (for example
``pkg:fluxcal/telluric_regions.csv``); :func:`resolve_data_reference` turns such a value
into a real path and leaves every other value alone.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["PKG_PREFIX", "data_path", "resolve_data_reference"]

#: Prefix of a config value that names a file of the packaged data directory.
PKG_PREFIX = "pkg:"


def data_path(relative: str = "") -> Path:
    """Path of a packaged data file or directory.

    Parameters
    ----------
    relative : str
        Path below ``sdssflow/data`` with ``/`` separators, e.g. ``"sky/f107_daily.csv"``;
        empty for the data directory itself.

    Returns
    -------
    pathlib.Path
        Absolute path on disk (the package is always installed unzipped: setuptools
        installs a directory, so no temporary extraction is needed).

    Raises
    ------
    FileNotFoundError
        The file is not part of the installed package (the message names it).

    Examples
    --------
    >>> data_path("flags.yaml").name
    'flags.yaml'
    """
    path = Path(str(files("sdssflow").joinpath("data", *[p for p in relative.split("/") if p])))
    if not path.exists():
        raise FileNotFoundError(f"{path}: not a packaged data file of sdssflow (data_path({relative!r}))")
    return path


def resolve_data_reference(value: str) -> str:
    """Replace a ``pkg:<relative>`` config value by the packaged file's absolute path.

    Parameters
    ----------
    value : str
        A path from the config; only values starting with ``pkg:`` are changed.

    Returns
    -------
    str
        The absolute path of the packaged file, or ``value`` unchanged.

    Raises
    ------
    FileNotFoundError
        ``pkg:`` names no packaged file.

    Examples
    --------
    >>> resolve_data_reference("pkg:fluxcal/telluric_regions.csv").endswith("telluric_regions.csv")
    True
    >>> resolve_data_reference("config/flags.csv")
    'config/flags.csv'
    """
    if isinstance(value, str) and value.startswith(PKG_PREFIX):
        return str(data_path(value[len(PKG_PREFIX):]))
    return value
