"""The LRE cache under several processes: concurrent writers leave one valid entry, a killed one leaves none.

Each child is a real Python process that loads the tiny Llama folder and
estimates the same LRE into the same FACTCHECK_CACHE.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from factcheck.knows import lre_cache
from factcheck.model.language_model import load_model
from factcheck.suites.suite import Fact

RELATION = ("The capital city of {subject} is", [("France", "Paris"), ("Italy", "Rome"), ("Japan", "Tokyo"), ("Peru", "Lima")])

CHILD = textwrap.dedent(
    """
    import hashlib, os, signal, sys
    from factcheck import cache
    from factcheck.knows import lre_cache
    from factcheck.model.language_model import load_model
    from factcheck.suites.suite import Fact

    folder, mode = sys.argv[1], sys.argv[2]
    template, pairs = {relation!r}
    if mode == "killed":
        # Die the moment the entry's bytes are on disk under their temporary name, before the rename.
        real_fsync = os.fsync
        def fsync_then_die(fd):
            real_fsync(fd)
            os.kill(os.getpid(), signal.SIGKILL)
        cache.os.fsync = fsync_then_die
    lre, hit = lre_cache.load_or_estimate(load_model(folder), (template, [Fact(s, o) for s, o in pairs]), 0, n_train=3)
    print(hit, hashlib.sha256(lre.weight.numpy().tobytes() + lre.bias.numpy().tobytes()).hexdigest())
    """
).format(relation=RELATION)


def run_children(folder: Path, cache_dir: Path, modes: list[str]) -> list[subprocess.CompletedProcess]:
    env = {**os.environ, "FACTCHECK_CACHE": str(cache_dir), "OMP_NUM_THREADS": "1"}
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(folder), mode], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for mode in modes
    ]
    results = []
    for child in children:
        out, err = child.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(child.args, child.returncode, out, err))
    return results


def in_process(folder: Path, cache_dir: Path, monkeypatch):
    monkeypatch.setenv("FACTCHECK_CACHE", str(cache_dir))
    template, pairs = RELATION
    lre, hit = lre_cache.load_or_estimate(load_model(folder), (template, [Fact(s, o) for s, o in pairs]), 0, n_train=3)
    return lre, hit


@pytest.mark.slow
def test_two_processes_estimating_the_same_lre_leave_one_valid_entry(tiny_llama_folder, tmp_path, monkeypatch):
    results = run_children(tiny_llama_folder, tmp_path, ["write", "write"])
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    digests = {r.stdout.split()[1] for r in results}
    assert len(digests) == 1  # both estimated (or one read) the same LRE
    entries = list((tmp_path / "lre").iterdir())
    assert [p.suffix for p in entries] == [".safetensors"], entries  # one entry, no temporary files left
    lre, hit = in_process(tiny_llama_folder, tmp_path, monkeypatch)
    assert hit
    assert hashlib.sha256(lre.weight.numpy().tobytes() + lre.bias.numpy().tobytes()).hexdigest() in digests


@pytest.mark.slow
def test_a_writer_killed_mid_write_leaves_no_entry_that_is_trusted(tiny_llama_folder, tmp_path, monkeypatch):
    (killed,) = run_children(tiny_llama_folder, tmp_path, ["killed"])
    assert killed.returncode == -9, killed.stderr
    left = list((tmp_path / "lre").iterdir())
    assert left and all(p.name.endswith(".tmp") for p in left), left  # only the dead writer's scratch file
    calls = []
    real = lre_cache.estimate_lre
    monkeypatch.setattr(lre_cache, "estimate_lre", lambda *a, **k: calls.append(1) or real(*a, **k))
    _, hit = in_process(tiny_llama_folder, tmp_path, monkeypatch)
    assert not hit and calls == [1]  # the scratch file was not taken for an entry: estimated anew
    _, hit = in_process(tiny_llama_folder, tmp_path, monkeypatch)
    assert hit and calls == [1]


def test_an_atomic_write_keeps_the_files_permissions(tmp_path):
    from factcheck.cache import write_text_atomic

    path = tmp_path / "report.json"
    path.write_text("old", encoding="utf-8")
    path.chmod(0o640)
    write_text_atomic(path, "new")
    assert path.read_text(encoding="utf-8") == "new" and (path.stat().st_mode & 0o777) == 0o640
