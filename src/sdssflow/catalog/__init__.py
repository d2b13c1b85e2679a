"""The almanac-style exposure catalog and the flag-filtered exposure selections."""
