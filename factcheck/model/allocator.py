"""Keep freed tensor memory in the process instead of handing it back to the kernel (glibc only).

By default glibc returns large freed blocks to the kernel at once (blocks
above its mmap threshold, and heap tops above its trim threshold). PyTorch on
a CPU frees and allocates tensors of megabytes at nearly every operation, so
each of them then pays for fresh, zero-filled pages. With the mmap threshold
at glibc's maximum and a high trim threshold those pages are reused instead
(bench/bench_lre_speed.py: the fast LRE estimator runs about 15 % faster).
Freed blocks then stay in the process, and the heap fragments: over the
10,000-fact benchmark the peak RSS climbed relation by relation to about 3 GiB
while the memory in use after each relation stayed near 1 GiB. So the session
hands freed pages back after each relation (`release_freed_memory`).

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


def _libc():
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def keep_freed_memory() -> bool:
    """Apply the settings once per process; True if glibc took them."""
    global _applied
    if _applied is None:
        _applied = False
        if os.environ.get("FACTCHECK_KEEP_FREED_MEMORY", "1") != "0":
            mallopt = getattr(_libc(), "mallopt", None)
            if mallopt is None:  # not glibc (macOS, or a libc without mallopt)
                return False
            _applied = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    return _applied


def release_freed_memory() -> bool:
    """Hand the pages of freed heap blocks back to the kernel (glibc's malloc_trim), when the settings above
    keep them; True if it released any. Cheap between relations, where nothing large is in use."""
    if not _applied:
        return False
    trim = getattr(_libc(), "malloc_trim", None)
    return bool(trim(0)) if trim is not None else False
