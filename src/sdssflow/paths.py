"""Paths of SDSS input files from sdss-access's templates (one place for every release).

Every input file sdssflow reads from an SDSS tree (spPlate/spField, spFrame, spCFrame,
spFluxcalib, spfibermap, specFull/specLite and the plate-era ``spec``/``spec-lite``, apVisit,
apStar, confSummary) is named by :class:`SdssPaths`, which asks
``sdss_access.path.Path(release=...)`` for the template of the release, with the SAS root
(``$SAS_BASE_DIR``) given explicitly. A release change is one config key.

Two things sdss-access does not give and this module adds, both documented:

* ``$SDSSCORE_DIR`` (confSummary files) is not part of the sdss-tree of any public
  release; it is a setting of its own (``sdss.sdsscore_dir``).
* The plate-era trees (dr12-dr17) map ``spCFrame`` to the *spFrame* name (a template bug
  of sdss-tree: both read ``spFrame-{br}{id}-{frame}``); the basename is corrected to
  ``spCFrame-``, as written by idlspec2d v5.

sdss-access's ``full`` already resolves compression: when the template says ``.fits.gz`` but
the uncompressed file exists (or the reverse), it returns the file on disk.

sdss-access changes ``os.environ`` when it plants a release tree; :class:`SdssPaths` plants
it once, keeps the variables it set, and puts ``os.environ`` back, so two releases can be
used side by side in one process.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from functools import lru_cache
from pathlib import Path

__all__ = [
    "RELEASES",
    "PLATE_ERA_RELEASES",
    "FILETYPES",
    "SdssPaths",
    "sdss_paths",
    "is_plate_era",
    "strip_compression",
]

#: Releases sdssflow reads (plate era and SDSS-V).
RELEASES = ("dr12", "dr14", "dr16", "dr17", "dr19")
PLATE_ERA_RELEASES = ("dr12", "dr14", "dr16", "dr17")

#: The sdss-access file types sdssflow reads, per era.
FILETYPES = {
    "plate": ("spPlate", "spFrame", "spCFrame", "spFluxcalib", "spec", "spec-lite", "apVisit", "apStar"),
    "fps": (
        "spField",
        "spFrame",
        "spCFrame",
        "spFluxcalib",
        "spfibermap",
        "specFull",
        "specLite",
        "apVisit",
        "apStar",
        "confSummary",
    ),
}

_COMPRESSIONS = (".gz", ".bz2", ".fz", ".zip")
_LOCK = threading.Lock()


def _import_sdss_access() -> None:
    """Import sdss_access with ``os.environ`` put back afterwards.

    Its import plants the default (``sdsswork``) tree: ~100 variables that a release's
    own tree does not all redefine. Taken for the release's, they gave e.g. DR18 (no
    APOGEE in its tree) an ``APOGEE_REDUX`` below ``sdsswork``, in the first
    :class:`SdssPaths` of a process only. An import error is left to the caller.
    """
    before = dict(os.environ)
    try:
        import sdss_access.path  # noqa: F401
    except Exception:  # reported by the caller's own import
        pass
    finally:
        os.environ.clear()
        os.environ.update(before)


def is_plate_era(release: str) -> bool:
    """Whether a release is of the plate era (SDSS-I to IV: dr12 ... dr17)."""
    return release.lower() in PLATE_ERA_RELEASES


def strip_compression(path: str | os.PathLike) -> str:
    """``path`` without a trailing compression suffix (``.gz``, ``.bz2``, ``.fz``, ``.zip``)."""
    text = str(path)
    for suffix in _COMPRESSIONS:
        if text.endswith(suffix):
            return text[: -len(suffix)]
    return text


@contextlib.contextmanager
def _environ(values: dict[str, str]):
    """Set environment variables for the duration of the block, then restore them.

    Only variables that differ are touched (sdss-tree defines about a hundred).
    """
    env = os.environ
    saved = {k: env.get(k) for k, v in values.items() if env.get(k) != v}
    for key in saved:
        env[key] = values[key]
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


class SdssPaths:
    """sdss-access path templates of one release below one SAS root.

    Parameters
    ----------
    release : str
        Data release (one of :data:`RELEASES`; others known to sdss-tree also work).
    sas_base_dir : str or os.PathLike
        The SAS root (``$SAS_BASE_DIR``): ``<sas_base_dir>/<release>/...``.
    sdsscore_dir : str or os.PathLike, optional
        ``$SDSSCORE_DIR`` (confSummary files); sdss-tree does not define it.

    Raises
    ------
    ValueError
        If sdss-access does not know the release.
    """

    def __init__(self, release: str, sas_base_dir: str | os.PathLike, sdsscore_dir: str | os.PathLike = ""):
        self.release = release.lower()
        self.sas_base_dir = str(Path(sas_base_dir))
        with _LOCK:
            _import_sdss_access()
            before = dict(os.environ)
            os.environ["SAS_BASE_DIR"] = self.sas_base_dir
            try:
                from sdss_access.path import Path as AccessPath

                known = {r.lower() for r in AccessPath.get_available_releases()} | {"sdsswork"}
                if self.release not in known:
                    raise ValueError(f"not one of {sorted(known)}")
                self._access = AccessPath(release=self.release)
            except Exception as err:  # sdss-tree raises several kinds for an unknown release
                raise ValueError(f"sdss-access does not know release {release!r}: {err}") from err
            finally:
                after = dict(os.environ)
                os.environ.clear()
                os.environ.update(before)
        self._env = {k: v for k, v in after.items() if before.get(k) != v}
        self._directories: dict = {}
        self._env["SAS_BASE_DIR"] = self.sas_base_dir
        if sdsscore_dir:
            self._env["SDSSCORE_DIR"] = str(sdsscore_dir)

    def __repr__(self) -> str:
        return f"SdssPaths(release={self.release!r}, sas_base_dir={self.sas_base_dir!r})"

    @property
    def plate_era(self) -> bool:
        """Whether the release is of the plate era."""
        return is_plate_era(self.release)

    def root(self, envvar: str) -> Path:
        """A root of the release tree, e.g. ``BOSS_SPECTRO_REDUX`` or ``APOGEE_REDUX``.

        Raises
        ------
        KeyError
            If the tree of the release does not define ``envvar``.
        """
        if envvar not in self._env:
            raise KeyError(f"{envvar} is not defined by the sdss-tree of {self.release}")
        return Path(self._env[envvar])

    def template(self, filetype: str) -> str:
        """The raw sdss-access template of a file type.

        Raises
        ------
        KeyError
            If the release has no such file type.
        """
        try:
            return self._access.templates[filetype]
        except KeyError:
            raise KeyError(f"sdss-access release {self.release} has no file type {filetype!r}") from None

    def keys(self, filetype: str) -> list[str]:
        """The keyword arguments a file type's template needs."""
        self.template(filetype)
        return list(self._access.lookup_keys(filetype))

    def full(self, filetype: str, **kwargs) -> Path:
        """The full path of one file (sdss-access ``full``, with the documented fixes).

        Parameters
        ----------
        filetype : str
            sdss-access file type (e.g. ``spFrame``, ``specFull``, ``apVisit``).
        **kwargs
            The template's keywords (see :meth:`keys`).

        Returns
        -------
        pathlib.Path
            The file sdss-access names; if only its compressed or uncompressed variant
            exists on disk, that one.

        Raises
        ------
        KeyError
            Unknown file type or missing keyword (the message names them).
        """
        self.template(filetype)
        if filetype == "confSummary" and "SDSSCORE_DIR" not in self._env:
            raise KeyError("confSummary needs sdsscore_dir ($SDSSCORE_DIR is not part of sdss-tree)")
        with _LOCK, _environ(self._env):
            try:
                path = self._access.full(filetype, **kwargs)
            except KeyError as err:
                raise KeyError(f"{filetype} ({self.release}): {err}") from None
        path = Path(path)
        if filetype == "spCFrame" and path.name.startswith("spFrame-"):
            path = self._fix_spcframe(path)
        return path

    def directory(self, filetype: str, **kwargs) -> Path:
        """The directory of a file type's path, without touching the disk.

        :meth:`full` asks sdss-access, which stats the file and globs for compressed
        variants; naming the directory of a plate or field for each of thousands of jobs
        needs neither.

        Raises
        ------
        KeyError
            Unknown file type or a missing keyword of the directory part.
        """
        memo = (filetype, tuple(sorted((k, str(v)) for k, v in kwargs.items())))
        if memo in self._directories:
            return self._directories[memo]
        keys = [k.split(":")[0] for k in self.keys(filetype)]
        missing = [k for k in keys if k not in kwargs and "{" + k in self.template(filetype).rsplit("/", 1)[0]]
        if missing:
            raise KeyError(f"{filetype} ({self.release}): missing keyword(s) {missing}")
        values = {k: kwargs.get(k, "*") for k in keys}
        out = self._directories[memo] = Path(self._wildcard_template(filetype, values)).parent
        return out

    def _fix_spcframe(self, path: Path) -> Path:
        """The plate-era spCFrame path (sdss-tree names it spFrame; idlspec2d writes spCFrame)."""
        fixed = path.with_name("spCFrame-" + path.name[len("spFrame-"):])
        plain = Path(strip_compression(fixed))
        if plain.exists() or not fixed.exists() and plain != fixed:
            return plain
        return fixed

    def expand(self, filetype: str, **kwargs) -> list[Path]:
        """Files on disk matching a template with ``*`` wildcards (sdss-access ``expand``).

        Keywords not given are wildcards. Compressed and uncompressed variants both match.

        Returns
        -------
        list of pathlib.Path
            Sorted.
        """
        keys = [k.split(":")[0] for k in self.keys(filetype)]
        values = {k: kwargs.get(k, "*") for k in keys}
        values.update({k: v for k, v in kwargs.items() if k not in values})
        template = self._wildcard_template(filetype, values)
        with _LOCK, _environ(self._env):
            found = self._access.expand(filetype, full=template)
        return sorted(Path(f) for f in found)

    def _wildcard_template(self, filetype: str, values: dict) -> str:
        """The full path with wildcards, formats of ``*`` keys dropped (``{fiber:0>3}`` -> ``*``)."""
        template = self.template(filetype)

        def fill(match):
            key = match.group(1)
            value = values.get(key, "*")
            if value == "*":
                return "*"
            return ("{0" + (match.group(2) or "") + "}").format(value)

        text = re.sub(r"\{(\w+)(:[^}]*)?\}", fill, template)
        if filetype == "spCFrame" and self.plate_era:
            text = text.replace("/spFrame-", "/spCFrame-")
        text = self._special_wildcards(text, values)
        return self._expand(text)

    def _expand(self, text: str) -> str:
        """``$VARS`` of the release tree (then of os.environ) substituted, recursively."""
        for _ in range(10):
            new = re.sub(r"\$(\w+)", lambda m: self._env.get(m.group(1), os.environ.get(m.group(1), m.group(0))), text)
            if new == text:
                break
            text = new
        return text

    def _special_wildcards(self, text: str, values: dict) -> str:
        """Resolve sdss-access ``@function|`` tags of a wildcard template.

        With their keywords known they are evaluated by sdss-access; with a wildcard
        keyword they become ``*`` (every directory).
        """
        wild = [k for k, v in values.items() if v == "*"]
        # only @spectrodir| reads os.environ; the group functions are pure
        needs_env = "@spectrodir|" in text
        with _environ(self._env) if needs_env else contextlib.nullcontext():
            for tag in re.findall(r"@\w+\|", text):
                method = getattr(self._access, tag[1:-1])
                probes = []
                for probe in ("1", "987654321"):  # far apart: group functions differ
                    try:
                        probes.append(method(None, **{**values, **dict.fromkeys(wild, probe)}))
                    except (KeyError, ValueError, TypeError):
                        probes.append(None)
                # a tag that depends on a wildcard keyword matches any directory
                value = probes[0] if probes[0] is not None and probes[0] == probes[1] else "*"
                text = text.replace(tag, str(value), 1)
        return text

    def extract(self, filetype: str, path: str | os.PathLike) -> dict:
        """Template keywords of a path (sdss-access ``extract``), e.g. plateid and mjd.

        Returns
        -------
        dict
            Keyword -> string value; empty if the path does not match the template.
        """
        with _LOCK, _environ(self._env):
            found = self._access.extract(filetype, strip_compression(path))
        return dict(found or {})


@lru_cache(maxsize=16)
def sdss_paths(release: str, sas_base_dir: str, sdsscore_dir: str = "") -> SdssPaths:
    """A cached :class:`SdssPaths` (planting a tree costs about 20 ms, importing 0.5 s)."""
    return SdssPaths(release, sas_base_dir, sdsscore_dir)
