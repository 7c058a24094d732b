"""The glibc allocator settings: applied once, and left alone on request."""

from __future__ import annotations

import platform

import pytest

from factcheck import allocator


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
