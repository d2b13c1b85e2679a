"""Sky-flux dataset (after parfa30/SkyModelling): one module per workflow step plus the
science modules they call.

Steps (``python -m sdssflow.sky.steps.<step>``): ``sky_flux``, ``rich_metadata``, ``line_sum``,
``mega_file``, ``mean_spectra``, ``mean_line_sum``, ``mean_mega_file``, ``continuum_fit``, and
``sky_plate``, which runs the six per-plate ones in one process (the workflow's job per plate).
Science: :mod:`~sdssflow.sky.masks`, :mod:`~sdssflow.sky.calibration`,
:mod:`~sdssflow.sky.extract`, :mod:`~sdssflow.sky.ephemeris`, :mod:`~sdssflow.sky.tables`,
:mod:`~sdssflow.sky.lines`, :mod:`~sdssflow.sky.mean`, :mod:`~sdssflow.sky.contfit`,
:mod:`~sdssflow.sky.mega`.
"""
