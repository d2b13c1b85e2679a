"""sdssflow: SDSS BOSS/APOGEE reductions to science products, as a Snakemake workflow.

The package holds the science (pure functions on arrays and tables), the I/O of every
SDSS format the workflow touches (`sdssflow.io`), and one thin step module per rule
(`python -m sdssflow.<family>.<step>`).
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
