"""The glibc allocator settings: applied once, and left alone on request."""

from __future__ import annotations

import platform

import pytest

from factcheck.model import allocator


@pytest.fixture()
def fresh_allocator_state(monkeypatch):
    monkeypatch.setattr(allocator, "_applied", None)


def test_opting_out_leaves_the_allocator_alone(fresh_allocator_state, monkeypatch):
    monkeypatch.setenv("FACTCHECK_KEEP_FREED_MEMORY", "0")
    assert allocator.keep_freed_memory() is False


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_takes_the_settings(fresh_allocator_state, monkeypatch):
    monkeypatch.delenv("FACTCHECK_KEEP_FREED_MEMORY", raising=False)
    assert allocator.keep_freed_memory() is True
    assert allocator.keep_freed_memory() is True  # once per process; asking again changes nothing


def resident_bytes() -> int:
    import os

    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_freed_blocks_kept_by_the_settings_go_back_on_release(fresh_allocator_state, monkeypatch):
    import torch

    monkeypatch.delenv("FACTCHECK_KEEP_FREED_MEMORY", raising=False)
    assert allocator.keep_freed_memory() is True
    # 2 MiB blocks, under the raised mmap threshold: they live in the heap. Freeing every other one leaves
    # holes that the trim threshold alone never hands back.
    blocks = [torch.ones(512 * 1024) for _ in range(200)]
    del blocks[::2]
    before = resident_bytes()
    assert allocator.release_freed_memory() is True
    assert before - resident_bytes() > 100 * 2**20  # most of the 200 MiB freed in holes


def test_nothing_is_released_when_the_settings_are_off(fresh_allocator_state, monkeypatch):
    monkeypatch.setenv("FACTCHECK_KEEP_FREED_MEMORY", "0")
    allocator.keep_freed_memory()
    assert allocator.release_freed_memory() is False
