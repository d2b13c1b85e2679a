"""The demo survey: synthetic SDSS reductions in the exact SDSS layouts, with known truth."""
