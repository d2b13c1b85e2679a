"""Step modules of the flux calibration: one module per rule (``python -m
sdssflow.fluxcal.steps.<module>``); the science they call is in ``sdssflow.fluxcal``'s topic modules."""
