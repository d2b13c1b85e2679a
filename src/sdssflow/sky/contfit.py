"""Separation of airglow lines and continuum in mean sky spectra (blue and red arms).

Model of one mean spectrum on its arm's wavelength range:
``F(lambda) = sum_j c_j B_j(lambda) + sum_k A_k G(lambda; mu_k, sigma(mu_k))`` with ``B_j`` cubic
B-splines on uniformly spaced knots (the continuum) and ``G`` unit-area Gaussians at the listed
vacuum line wavelengths ``mu_k`` with the spectrum's own line-spread sigma (DISP), so ``A_k`` is
the line flux (1e-17 erg/s/cm2). The model is linear: one weighted least-squares solve (small
ridge on the line amplitudes), then pixels more than ``clip`` sigma from the model (lines missing
from the list, cosmic rays) are dropped and the fit is repeated once. The continuum is the spline
part; the model is continuum + lines.

Fixes of the original (SkyModelling ``fit_blue_mean_cont.py`` / ``fit_red_mean_cont.py``): the
original fitted each line separately in a hand-tuned window with lmfit and replaced the window by
a fitted constant (continuum steps at window edges, overlapping windows overwriting each other,
weights from the flux itself instead of the ivar, a try/except hiding failed red fits); here one
joint linear fit per spectrum uses the ivar, and every line list comes from ``sdssflow/data/sky`` with the
close-line merge done on a sorted list (the original's unsorted walk dropped real lines).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.interpolate import BSpline

from sdssflow.resources import data_path
from sdssflow.sky.calibration import CAMERA_WINDOWS

__all__ = ["DEFAULT_AIRGLOW", "read_airglow_lines", "merge_lines", "spline_basis_sparse", "fit_continuum"]

DEFAULT_AIRGLOW = data_path("sky/airglow_lines.csv")


def read_airglow_lines(path: str | Path = DEFAULT_AIRGLOW) -> dict[str, np.ndarray]:
    """Airglow line lists per arm, vacuum A, sorted.

    Three layouts are read, told apart by their content:

    - the package's CSV (``#`` comments, columns ``camera`` (b or r) and ``wave``, vacuum A),
      one list per arm;
    - idlspec2d's ``etc/skylines*.dat`` (``#`` comments, then the wavelength and the species,
      white-space separated): air A, as idlspec2d's own reduction converts them to vacuum
      (``airtovac`` of the sky-line waves before its sky-line tweak);
    - the UVES sky atlas tables of Hanuschik (2003, A&A 407, 1157; CDS tables 4-9: index,
      wavelength, FWHM, flux): air A (their [OI] lines stand at 5577.35 and 6300.31).

    Air wavelengths are converted to vacuum (:func:`sdssflow.io.bosz.air_to_vacuum`, Morton
    2000). A list without arms is used for both: :func:`fit_continuum` keeps the lines
    inside each arm's data.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is none of these layouts (the message names it; e.g. SkyModelling's
        per-arm ``.npy`` lists, whose re-derived content is the package's CSV).
    """
    from sdssflow.sky.tables import read_csv

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: airglow line list not found")
    raw = path.read_bytes()
    if raw.startswith(b"\x93NUMPY"):
        raise ValueError(
            f"{path}: a NumPy .npy file (SkyModelling's one-arm blue_/red_airglow_lines.npy, "
            "vacuum nm); give a CSV with columns camera, wave (vacuum A) such as "
            "sdssflow/data/sky/airglow_lines.csv, which holds those lists"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a text line list ({err})") from None
    rows = [ln.split() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    air = _air_line_list(rows)
    if air is not None:
        # imported here: io.bosz loads pandas (~0.2 s, ~30 MB), which the package's CSV list
        # (the workflow's default) does not need
        from sdssflow.io.bosz import air_to_vacuum

        vac = np.sort(air_to_vacuum(air))
        return {"b": vac, "r": vac.copy()}
    try:
        t = read_csv(path)
    except ValueError:  # rows of unequal length: no CSV at all
        t = {}
    if not {"camera", "wave"} <= set(t):
        raise ValueError(
            f"{path}: not an airglow line list sdssflow reads: need a CSV with columns camera, "
            "wave (vacuum A), an idlspec2d skylines.dat or a Hanuschik (2003) UVES table"
        )
    return {arm: np.sort(np.asarray(t["wave"], dtype=float)[t["camera"] == arm]) for arm in ("b", "r")}


def _air_line_list(rows: list[list[str]]) -> np.ndarray | None:
    """Air wavelengths (A) of an idlspec2d skylines or Hanuschik UVES table, or None if it is neither.

    idlspec2d: a wavelength then the species' words on every row. UVES: four numbers on every
    row, the first an increasing integer index. Both are optical lists: 3000-11000 A.
    """

    def number(cell: str) -> float | None:
        try:
            return float(cell)
        except ValueError:
            return None

    if not rows:
        return None
    if all(len(r) == 4 and all(number(c) is not None for c in r) and r[0].isdigit() for r in rows):
        index = np.array([int(r[0]) for r in rows])
        wave = np.array([float(r[1]) for r in rows])
        if not np.all(np.diff(index) > 0):
            return None
    elif all(len(r) >= 2 and number(r[0]) is not None and number(r[1]) is None for r in rows):
        wave = np.array([float(r[0]) for r in rows])
    else:
        return None
    return wave if np.all((wave > 3000.0) & (wave < 11000.0)) else None


def merge_lines(primary: np.ndarray, secondary: np.ndarray, tol: float = 3.0) -> np.ndarray:
    """Union of two line lists; a secondary line within ``tol`` A of a kept line is dropped.

    Examples
    --------
    >>> merge_lines(np.array([5578.89]), np.array([5578.87, 5600.0])).tolist()
    [5578.89, 5600.0]
    """
    keep = list(np.sort(np.asarray(primary, dtype=float)))
    for w in np.sort(np.asarray(secondary, dtype=float)):
        if not keep or np.min(np.abs(np.asarray(keep) - w)) >= tol:
            keep.append(float(w))
    return np.sort(np.array(keep))


def spline_basis_sparse(x: np.ndarray, lo: float, hi: float, spacing: float):
    """Sparse cubic B-spline design matrix on uniform knots over [lo, hi].

    Returns
    -------
    scipy.sparse matrix, shape (x.size, nbasis)
    """
    nint = max(int(np.ceil((hi - lo) / spacing)), 1)
    inner = np.linspace(lo, hi, nint + 1)
    knots = np.concatenate([[lo] * 3, inner, [hi] * 3])
    xc = np.clip(x, lo, hi)
    return BSpline.design_matrix(xc, knots, 3)


def fit_continuum(
    grid: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    disp: np.ndarray,
    arm: str,
    lines: np.ndarray,
    knot_spacing: float = 100.0,
    clip: float = 5.0,
    ridge: float = 1e-6,
) -> dict[str, np.ndarray]:
    """Fit continuum + airglow lines to one mean spectrum.

    Parameters
    ----------
    grid : numpy.ndarray, shape (ngrid,)
        Wavelength, vacuum A.
    flux, ivar, disp : numpy.ndarray, shape (ngrid,)
        Mean spectrum, its ivar (0 = no data), line-spread sigma (A).
    arm : str
        ``b`` or ``r``: the fit uses the arm's window (:data:`CAMERA_WINDOWS`).
    lines : numpy.ndarray
        Line centres, vacuum A (those outside the data are ignored).
    knot_spacing : float
        Continuum spline knot spacing, A.
    clip : float
        Outlier rejection threshold, sigma.
    ridge : float
        Ridge on line amplitudes, relative to the diagonal of the normal matrix.

    Returns
    -------
    dict
        ``continuum``, ``model`` (ngrid,), 0 outside the fitted range; ``line_wave``,
        ``line_flux``, ``line_ivar`` (nline,); ``chi2``, ``dof``; ``used`` (ngrid,) bool.

    Raises
    ------
    ValueError
        If the arm is unknown or fewer pixels than parameters are usable.
    """
    if arm not in CAMERA_WINDOWS:
        raise ValueError(f"arm {arm!r}: expected b or r")
    lo, hi = CAMERA_WINDOWS[arm]
    use = (grid > lo) & (grid < hi) & (ivar > 0) & np.isfinite(flux)
    if use.sum() < 50:
        raise ValueError(f"only {int(use.sum())} usable pixels in the {arm} arm")
    x = grid[use]
    lo_d, hi_d = float(x.min()), float(x.max())
    inrange = (grid >= lo_d) & (grid <= hi_d)
    g = grid[inrange]
    mu = np.asarray(lines, dtype=float)
    mu = mu[(mu > lo_d + 3) & (mu < hi_d - 3)]
    sig_at = np.interp(mu, x, np.clip(disp[use], 0.3, None))
    cont_b = sparse.csr_matrix(spline_basis_sparse(g, lo_d, hi_d, knot_spacing))
    ncont = cont_b.shape[1]
    # sparse unit-area Gaussians, each over +-6 sigma
    rows, cols, vals = [], [], []
    for k, (m, sg) in enumerate(zip(mu, sig_at)):
        i0, i1 = np.searchsorted(g, [m - 6 * sg, m + 6 * sg])
        xx = g[i0:i1]
        rows.append(np.arange(i0, i1))
        cols.append(np.full(i1 - i0, ncont + k))
        vals.append(np.exp(-0.5 * ((xx - m) / sg) ** 2) / (np.sqrt(2 * np.pi) * sg))
    prof = sparse.csr_matrix(
        (np.concatenate(vals) if vals else np.zeros(0), (np.concatenate(rows) if rows else np.zeros(0, int),
         (np.concatenate(cols) if cols else np.zeros(0, int)) - ncont)),
        shape=(g.size, mu.size),
    )
    design = sparse.hstack([cont_b, prof]).tocsr()
    f = np.where(use[inrange], flux[inrange], 0.0)
    w = np.where(use[inrange], ivar[inrange], 0.0)
    for _ in range(3):
        aw = design.multiply(w[:, None]).tocsr()
        normal = (design.T @ aw).toarray()
        diag = np.diag(normal).copy()
        reg = np.zeros_like(diag)
        reg[ncont:] = ridge * np.maximum(diag[ncont:], 1e-30)
        normal += np.diag(reg + 1e-12 * max(diag.max(), 1.0))
        coef = np.linalg.solve(normal, aw.T @ f)
        model_in = design @ coef
        resid = (f - model_in) * np.sqrt(w)
        new = w * (np.abs(resid) < clip)
        if np.array_equal(new > 0, w > 0):
            break
        w = new
    cov_diag = np.diag(np.linalg.inv(normal))
    continuum = np.zeros_like(grid)
    model = np.zeros_like(grid)
    continuum[inrange] = cont_b @ coef[:ncont]
    model[inrange] = model_in
    used = np.zeros(grid.size, dtype=bool)
    used[inrange] = w > 0
    return {
        "continuum": continuum,
        "model": model,
        "line_wave": mu,
        "line_flux": coef[ncont:],
        "line_ivar": 1.0 / cov_diag[ncont:],
        "chi2": float(np.sum(((f - model_in) ** 2 * w)[w > 0])),
        "dof": int((w > 0).sum() - design.shape[1]),
        "used": used,
    }
