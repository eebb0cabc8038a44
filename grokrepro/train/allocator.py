"""Keep freed memory in the process instead of handing it back to the kernel after every step.

glibc serves allocations above 128 kB with fresh mmap'd pages and unmaps them on free, so each training step
pays page faults to zero-fill its activations again; for the default-scale models that costs a third of a step.
Raising the mmap and trim thresholds makes those blocks reusable. A no-op where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
_done = False


def keep_freed_memory(threshold: int = 1 << 30) -> bool:
    """Ask glibc to reuse freed blocks of up to `threshold` bytes; True where it agreed."""
    global _done
    if _done:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _done = bool(libc.mallopt(M_MMAP_THRESHOLD, threshold)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 2 * threshold))
    except (OSError, AttributeError):
        _done = False
    return _done
