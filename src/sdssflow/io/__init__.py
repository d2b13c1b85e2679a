"""Readers and writers for every file format sdssflow reads or writes.

All file access of the package lives here; science modules take and return arrays
and tables.
"""
