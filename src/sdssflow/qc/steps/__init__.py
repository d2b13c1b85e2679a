"""Step modules of the problems table and report figures: one module per rule (``python -m
sdssflow.qc.steps.<module>``); the science they call is in ``sdssflow.qc``'s topic modules."""
