"""Step modules of the sky spectra and sky model: one module per rule (``python -m
sdssflow.sky.steps.<module>``); the science they call is in ``sdssflow.sky``'s topic modules."""
