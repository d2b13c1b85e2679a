"""Step modules of the Milky Way Mapper spectra: one module per rule (``python -m
sdssflow.mwm.steps.<module>``); the science they call is in ``sdssflow.mwm``'s topic modules."""
