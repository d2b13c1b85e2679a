"""Keep freed memory in the process for reuse: glibc's mmap and trim thresholds raised.

A step that makes many large numpy temporaries (boss_visits: (96, 4648) template arrays per
velocity scan, (2500, 53) sinc kernels per chip, (96, 46000) libraries) pays, with glibc's
defaults, for each of them a fresh ``mmap`` (arrays over the dynamic mmap threshold, at most
32 MB) or a heap that is trimmed back to the system when they are freed: every new array is
then faulted in page by page again. On the demo plate that is ~470,000 minor page faults and
~3 s of system CPU in a 13 s job. With both thresholds raised (:func:`keep_freed_memory`) the
freed blocks stay in the heap and are reused: ~50,000 faults, ~1 s of system CPU, the peak
RSS about the same (the largest set of arrays alive at once is the same).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

__all__ = ["keep_freed_memory"]

log = logging.getLogger(__name__)

#: glibc ``mallopt`` parameters (malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory(limit_bytes: int = 1 << 30) -> bool:
    """Raise glibc's mmap and trim thresholds to ``limit_bytes`` for this process.

    Blocks up to ``limit_bytes`` then come from the heap, and freed heap memory up to it is
    kept for the next allocations instead of being returned (and faulted in again).

    Parameters
    ----------
    limit_bytes : int
        Both thresholds, bytes (default 1 GiB: above any one array of the MWM steps).

    Returns
    -------
    bool
        True when both were set; False elsewhere than glibc (nothing is changed there).
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        done = libc.mallopt(M_MMAP_THRESHOLD, int(limit_bytes)) == 1
        done = libc.mallopt(M_TRIM_THRESHOLD, int(limit_bytes)) == 1 and done
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows): the defaults stay
        return False
    if not done:
        log.debug("mallopt refused the thresholds (%d bytes): glibc defaults kept", limit_bytes)
    return done
