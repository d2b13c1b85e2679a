"""Step modules of the exposure catalog and selection: one module per rule (``python -m
sdssflow.catalog.steps.<module>``); the science they call is in ``sdssflow.catalog``'s topic modules."""
