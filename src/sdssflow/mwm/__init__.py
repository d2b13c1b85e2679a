"""Milky Way Mapper products (after astra's ``mwm``): rest-frame visits and co-adds.

Science modules: :mod:`grids` (wavelength grids, identifiers, buckets), :mod:`resample`
(vectorised damped-sinc resampler), :mod:`rv` (cross-correlation radial velocities),
:mod:`stack` (in_stack selection, co-adds, summary statistics), :mod:`continuum` (NMF
continuum), :mod:`flags` (pixel, NMF and status bits), :mod:`build` (one source end to
end). Step modules: ``boss_visits``, ``mwm_index``, ``mwm_visit``, ``mwm_star`` (run together,
per bucket job, by ``mwm_bucket``), ``mwm_status``, ``nmf_basis``.
"""
