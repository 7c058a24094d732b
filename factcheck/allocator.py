"""Keep freed tensor memory in the process instead of handing it back to the kernel (glibc only).

By default glibc returns large freed blocks to the kernel at once (blocks
above its mmap threshold, and heap tops above its trim threshold). PyTorch on
a CPU frees and allocates tensors of megabytes at nearly every operation, so
each of them then pays for fresh, zero-filled pages. With the mmap threshold
at glibc's maximum and a high trim threshold those pages are reused instead
(bench/bench_lre_speed.py: the fast LRE estimator runs about 15 % faster).
The process keeps the memory it has used until it exits; its peak is the same.

Set FACTCHECK_KEEP_FREED_MEMORY=0 to leave the allocator alone.
"""

from __future__ import annotations

import ctypes
import os

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's ceiling on 64-bit systems
_TRIM_THRESHOLD = 1024 * 1024 * 1024

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Apply the settings once per process; True if glibc took them."""
    global _applied
    if _applied is None:
        _applied = False
        if os.environ.get("FACTCHECK_KEEP_FREED_MEMORY", "1") != "0":
            try:
                mallopt = ctypes.CDLL(None).mallopt
            except (OSError, AttributeError):  # not glibc (macOS, or a libc without mallopt)
                return False
            _applied = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    return _applied
