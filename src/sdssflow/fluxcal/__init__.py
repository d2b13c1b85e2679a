"""Flux calibration of BOSS exposures with BOSZ 2024 templates (after kspecdr.fluxcal).

Step modules: :mod:`.bosz_download`, :mod:`.bosz_library`, :mod:`.flux_calibration`,
:mod:`.fluxcal_summary`. Science modules: :mod:`.priors` (photometry, Vega to AB, Teff
prior), :mod:`.resolution` (log-lambda convolution), :mod:`.matching` (vectorised
template and RV search), :mod:`.vectors` (per-star and combined calibration vectors,
application), :mod:`.qc` (figures).
"""
