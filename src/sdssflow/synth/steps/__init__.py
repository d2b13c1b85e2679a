"""Step modules of the demo survey: one module per rule (``python -m
sdssflow.synth.steps.<module>``); the science they call is in ``sdssflow.synth``'s topic modules."""
