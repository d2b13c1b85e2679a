"""Quality control of runs: product-tree comparison and the report's QC figures."""
