"""The plan of the demo survey: which plates, MJDs, exposures and sources it holds.

The plan is a pure function of the ``demo:`` block of the config, so the workflow can
build its DAG before any demo file exists, and the generator and the tests agree on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DemoSource",
    "demo_sources",
    "demo_sdss_id",
    "DemoPlan",
    "DEFAULT_DEMO",
    "demo_plan",
    "ERAS",
    "CAMERAS",
    "NPIX",
    "FIBERS_PER_SPECTROGRAPH",
]

#: BOSS cameras: blue and red arm of spectrographs 1 and 2.
CAMERAS = ("b1", "r1", "b2", "r2")
#: spFrame pixel count per arm (sdssproc: 4112 blue, 4128 red).
NPIX = {"b": 4112, "r": 4128}
FIBERS_PER_SPECTROGRAPH = 500

#: Per era: the release whose sdss-access paths the demo tree follows, and the default
#: BOSS (run2d) and APOGEE (apred) reduction versions.
ERAS = {
    "sdss4": {"release": "dr17", "run2d": "v5_7_0", "apred": "dr17"},
    "sdss5": {"release": "dr19", "run2d": "v6_1_3", "apred": "1.3"},
}

#: Defaults of the ``demo:`` config block (the schema repeats them). Empty ``release``,
#: ``run2d`` and ``apred`` take the era's values (:data:`ERAS`).
DEFAULT_DEMO = {
    "root": "resources/demo",
    "seed": 20261121,
    "era": "sdss4",
    "release": "",
    "run2d": "",
    "apred": "",
    "n_plates": 2,
    "n_mjds": 2,
    "n_exposures": 3,
    "first_plate": 4100,
    "first_mjd": 55500,
    "n_sky_per_spectrograph": 40,
    "n_std_per_spectrograph": 8,
    "n_science_per_spectrograph": 20,
    "n_apogee_sources": 12,
}


@dataclass(frozen=True)
class DemoPlan:
    """Deterministic content of the demo survey.

    Attributes
    ----------
    root : pathlib.Path
        Root directory of the demo survey; it is a SAS root (``$SAS_BASE_DIR``): the
        reductions sit at the sdss-access paths of ``release`` below it.
    era : str
        ``sdss4`` (plates, one observatory) or ``sdss5`` (FPS fields at APO and LCO).
    release : str
        Data release whose sdss-access path templates name every demo input file.
    run2d : str
        BOSS reduction version directory (``$BOSS_SPECTRO_REDUX/<run2d>``).
    apred : str
        APOGEE reduction version.
    exposures : tuple of (plate, mjd, expid)
        Every science exposure; each has the four cameras of :data:`CAMERAS`.
    """

    root: Path
    era: str
    release: str
    run2d: str
    apred: str
    exposures: tuple[tuple[int, int, int], ...]
    settings: tuple[tuple[str, object], ...]

    @property
    def sdsscore(self) -> Path:
        """``$SDSSCORE_DIR`` of the demo survey (confSummary files; not in sdss-tree)."""
        return self.root / "sdsscore"

    @property
    def paths(self):
        """:class:`sdssflow.paths.SdssPaths` of the demo's release below its root."""
        from sdssflow.paths import sdss_paths

        return sdss_paths(self.release, str(self.root), str(self.sdsscore))

    def path(self, filetype: str, **kwargs) -> Path:
        """The demo file of an sdss-access file type (written uncompressed).

        ``run2d`` and ``apred`` default to the demo's; the other keywords are the
        template's (see :meth:`sdssflow.paths.SdssPaths.keys`).
        """
        from sdssflow.paths import strip_compression

        kw = {"run2d": self.run2d, "apred": self.apred, **kwargs}
        full = self.paths.full(filetype, **kw)
        return Path(strip_compression(full))

    def frame_path(self, filetype: str, plate: int, mjd: int, camera: str, expid: int) -> Path:
        """spFrame / spCFrame / spFluxcalib of one camera-exposure (sdss-access path).

        ``plate`` is the plate (sdss4) or the FPS field (sdss5). Compressed as the real tree
        stores that file type (:func:`frame_suffix`).
        """
        key = "fieldid" if self.era == "sdss5" else "plateid"
        kw = {key: int(plate), "mjd": int(mjd), "br": camera[0], "id": camera[1:], "frame": int(expid)}
        plain = self.path(filetype, **kw)
        return plain.with_name(plain.name.removesuffix(".fits") + frame_suffix(filetype, self.run2d))

    def apogee_path(self, filetype: str, **kwargs) -> Path:
        """apVisit / apStar of the demo (sdss-access path; plate-era ``prefix``/``apstar`` filled)."""
        return self.path(filetype, **{"prefix": "ap", "apstar": "stars", **kwargs})

    @property
    def boss_redux(self) -> Path:
        """``$BOSS_SPECTRO_REDUX`` of the demo survey (sdss-access, below ``root``)."""
        return self.paths.root("BOSS_SPECTRO_REDUX")

    @property
    def apogee_redux(self) -> Path:
        """``$APOGEE_REDUX`` of the demo survey (sdss-access, below ``root``)."""
        return self.paths.root("APOGEE_REDUX")

    @property
    def bosz_mirror(self) -> Path:
        """Directory served as the BOSZ 2024 base URL (holds ``r10000/``...)."""
        return self.root / "bosz_mirror" / "bosz2024"

    @property
    def photometry(self) -> Path:
        """Refcat2-like photometry CSV of the standard and science stars."""
        return self.root / "photometry" / "refcat2.csv"

    @property
    def truth(self) -> Path:
        """Folder of the injected truth (DESIGN.md contract)."""
        return self.root / "truth"

    @property
    def manifest(self) -> Path:
        """Written last by the generator; its presence means the survey is complete."""
        return self.root / "manifest.csv"

    def get(self, key: str):
        """A setting of the ``demo:`` block (defaults filled)."""
        return dict(self.settings)[key]

    @property
    def plate_mjds(self) -> list[tuple[int, int]]:
        """Sorted unique (plate, mjd) pairs."""
        return sorted({(p, m) for p, m, _ in self.exposures})

    @property
    def plates(self) -> list[int]:
        """Sorted unique plates."""
        return sorted({p for p, _, _ in self.exposures})

    def plate_dir(self, plate: int) -> Path:
        """The directory of a plate's (or field's) spPlate/spField, spFrame... files."""
        if self.era == "sdss5":
            return self.paths.directory("spField", run2d=self.run2d, fieldid=plate, mjd=self.first_mjd)
        return self.paths.directory("spPlate", run2d=self.run2d, plateid=plate, mjd=self.first_mjd)

    @property
    def first_mjd(self) -> int:
        """MJD of the first night (stands in for the MJD in directory templates)."""
        return int(self.get("first_mjd"))



#: Frame files the real BOSS trees store gzipped: the plate-era v5 tree (DR12-DR17) gzips
#: spFrame and spFluxcalib (spCFrame and spPlate are plain); the v6 (SDSS-V) tree also
#: gzips spCFrame.
GZIPPED_FRAMES = {"v5": ("spFrame", "spFluxcalib"), "v6": ("spFrame", "spFluxcalib", "spCFrame")}


def frame_suffix(kind: str, run2d: str) -> str:
    """``.fits.gz`` or ``.fits``: how a reduction ``run2d`` stores a frame file ``kind``.

    Examples
    --------
    >>> frame_suffix("spFrame", "v5_7_0"), frame_suffix("spCFrame", "v5_7_0"), frame_suffix("spCFrame", "v6_1_3")
    ('.fits.gz', '.fits', '.fits.gz')
    """
    major = "v6" if str(run2d).startswith("v6") else "v5"
    return ".fits.gz" if kind in GZIPPED_FRAMES[major] else ".fits"


def demo_plan(settings: dict | None = None) -> DemoPlan:
    """Build the plan of the demo survey from the ``demo:`` config block.

    Parameters
    ----------
    settings : dict, optional
        The ``demo:`` block; missing keys take :data:`DEFAULT_DEMO`.

    Returns
    -------
    DemoPlan

    Examples
    --------
    >>> plan = demo_plan()
    >>> plan.plate_mjds
    [(4100, 55500), (4100, 55503), (4101, 55510), (4101, 55513)]
    >>> len(plan.exposures)
    12
    """
    merged = {**DEFAULT_DEMO, **(settings or {})}
    unknown = set(merged) - set(DEFAULT_DEMO)
    if unknown:
        raise ValueError(f"demo: unknown setting(s) {sorted(unknown)}")
    if merged["era"] not in ERAS:
        raise ValueError(f"demo.era: {merged['era']!r} is not one of {sorted(ERAS)}")
    era = ERAS[merged["era"]]
    exposures = []
    expid = 120000
    for i in range(int(merged["n_plates"])):
        plate = int(merged["first_plate"]) + i
        for j in range(int(merged["n_mjds"])):
            mjd = int(merged["first_mjd"]) + 10 * i + 3 * j
            for _ in range(int(merged["n_exposures"])):
                exposures.append((plate, mjd, expid))
                expid += 1
    return DemoPlan(
        root=Path(merged["root"]),
        era=str(merged["era"]),
        release=str(merged["release"] or era["release"]),
        run2d=str(merged["run2d"] or era["run2d"]),
        apred=str(merged["apred"] or era["apred"]),
        exposures=tuple(exposures),
        settings=tuple(sorted(merged.items())),
    )


#: The demo's sources fall in these few GG/HH buckets (sdss_id % 10000), so that an
#: MWM bucket job holds several sources, as it does at survey scale.
DEMO_BUCKET_OFFSETS = (1234, 2345, 5678, 9012)


@dataclass(frozen=True)
class DemoSource:
    """One stellar target of the demo survey.

    Attributes
    ----------
    sdss_id, catalogid : int
        SDSS-V identifiers.
    kind : str
        ``"science"`` (observed on every plate) or ``"std"`` (SPECTROPHOTO_STD of one plate).
    plate : int
        For standards, their plate; 0 for science targets (on every plate).
    index : int
        Running index within its kind (fixes its stellar parameters in the generator).
    apogee : bool
        Whether it also has APOGEE apVisit / apStar files.
    """

    sdss_id: int
    catalogid: int
    kind: str
    plate: int
    index: int
    apogee: bool

    @property
    def bucket(self) -> tuple[str, str]:
        """The astra ``GG/HH`` directory: ((sdss_id // 100) % 100, sdss_id % 100)."""
        return f"{(self.sdss_id // 100) % 100:02d}", f"{self.sdss_id % 100:02d}"


def demo_sdss_id(base: int, k: int) -> int:
    """The ``k``-th demo sdss_id above ``base``, cycling over :data:`DEMO_BUCKET_OFFSETS`."""
    return (
        base
        + (k // len(DEMO_BUCKET_OFFSETS)) * 10000
        + DEMO_BUCKET_OFFSETS[k % len(DEMO_BUCKET_OFFSETS)]
    )


def demo_sources(plan: DemoPlan) -> list[DemoSource]:
    """Every stellar target of the demo survey, science targets first.

    Science targets (``2 * n_science_per_spectrograph``) are observed on every plate and
    MJD; standards (``2 * n_std_per_spectrograph`` per plate) on their own plate only.
    The first ``n_apogee_sources`` science targets also have APOGEE files (era sdss5: the
    first of each half, so that both observatories have APOGEE targets).

    Examples
    --------
    >>> srcs = demo_sources(demo_plan())
    >>> srcs[0].sdss_id, srcs[0].bucket
    (100001234, ('12', '34'))
    >>> sorted({s.bucket for s in srcs})
    [('12', '34'), ('23', '45'), ('56', '78'), ('90', '12')]
    """
    n_sci = 2 * int(plan.get("n_science_per_spectrograph"))
    n_std = 2 * int(plan.get("n_std_per_spectrograph"))
    n_apogee = min(int(plan.get("n_apogee_sources")), n_sci)

    def has_apogee(k: int) -> bool:
        if plan.era != "sdss5":
            return k < n_apogee
        # sdss5: each half of the science targets is observed at one observatory
        half = n_sci // 2
        return k < (n_apogee + 1) // 2 or half <= k < half + n_apogee // 2

    sources = [
        DemoSource(
            sdss_id=demo_sdss_id(100_000_000, k),
            catalogid=27_021_597_000_000_000 + k,
            kind="science",
            plate=0,
            index=k,
            apogee=has_apogee(k),
        )
        for k in range(n_sci)
    ]
    for i, plate in enumerate(plan.plates):
        for j in range(n_std):
            k = i * n_std + j
            sources.append(
                DemoSource(
                    sdss_id=demo_sdss_id(200_000_000, k),
                    catalogid=27_021_598_000_000_000 + k,
                    kind="std",
                    plate=plate,
                    index=k,
                    apogee=False,
                )
            )
    return sources
