"""One error root: everything factcheck raises on purpose is a FactcheckError, and the CLI catches that (not ValueError)."""

from __future__ import annotations

import pytest

from factcheck import cli
from factcheck.gate.baseline import BaselineError
from factcheck.model.default_model import DefaultModelMissing
from factcheck.model.degrade import DegradeError
from factcheck.errors import FactcheckError, JsonFileError, SettingError
from factcheck.suites.importer import ImportFormatError
from factcheck.model.prefix_attention import UnroutedAttention
from factcheck.model.language_model import ModelLayoutError, ModelLoadError
from factcheck.suites.prompts import SubjectNotFound
from factcheck.results import ReportError
from factcheck.suites.suite import SuiteError
from factcheck.knows.tune import TuneError


@pytest.mark.parametrize("error", [BaselineError, DefaultModelMissing, DegradeError, ImportFormatError, UnroutedAttention, ModelLayoutError,
                                   ModelLoadError, ReportError, SettingError, SubjectNotFound, SuiteError, TuneError])
def test_every_error_factcheck_raises_on_purpose_is_a_factcheck_error(error):
    assert issubclass(error, FactcheckError)


def test_json_file_errors_name_the_file_the_pointer_and_the_fix():
    error = BaselineError("base.json", [("/facts/x/margin", "expected number")], fix="re-record it")
    assert isinstance(error, JsonFileError)
    assert str(error).splitlines() == ["base.json: /facts/x/margin: expected number", "  to fix: re-record it"]


def test_the_cli_prints_a_factcheck_error_and_exits_2(tmp_path, capsys):
    assert cli.main(["model", "info", str(tmp_path / "missing.gguf")]) == 2
    assert "missing.gguf': no such file. factcheck loads a folder" in capsys.readouterr().err
    assert cli.main(["model", "info", str(tmp_path), "--dtype", "float8"]) == 2
    assert "unknown dtype 'float8'" in capsys.readouterr().err


def test_the_cli_does_not_hide_a_bug_behind_an_error_message(monkeypatch, capsys):
    def broken(args):
        raise ValueError("a bug, not bad input")

    # Its whole traceback is shown, and the exit is 2 as for any error: never 1, which `factcheck diff` gives for
    # regressions (a crash read as a failed gate, or the reverse).
    monkeypatch.setattr(cli, "_model_info", broken)
    assert cli.main(["model", "info"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ValueError: a bug, not bad input" in err
    assert "the model command failed unexpectedly" in err


def test_version_names_factcheck_and_the_libraries_its_results_depend_on(capsys):
    import importlib.metadata

    import factcheck

    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    line = capsys.readouterr().out.strip()
    assert "\n" not in line and line.startswith(f"factcheck {factcheck.__version__} (Python ")
    assert f"torch {importlib.metadata.version('torch')}" in line and f"transformers {importlib.metadata.version('transformers')}" in line


@pytest.mark.parametrize("arguments", [["tune", "suites", "--folds", "0"], ["tune", "suites", "--max-held-out", "-1"],
                                       ["lens", "x", "--relation", "r.json", "--positions", "0"],
                                       ["degrade", "--out", "d", "--round-bits", "zero"],
                                       ["degrade", "--out", "d", "--round-bits", "65"]])
def test_a_count_below_one_is_refused_by_the_command_line_naming_the_option(arguments, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(arguments)
    assert done.value.code == 2
    error = capsys.readouterr().err
    assert arguments[-2] in error and any(words in error for words in ("or more", "expected a whole number", "at most"))


def test_a_device_this_torch_cannot_use_is_one_clear_setting_error(tiny_llama_folder):
    import torch

    from factcheck.model.language_model import load_model

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(SettingError, match=r"device 'cuda:0' is not available .* run on cpu \(--factcheck-device cpu"):
        load_model(str(tiny_llama_folder), device="cuda:0")
    # Every accelerator kind torch names, where this build has none; and a device factcheck does not run on.
    for device in ("xpu", "hpu", "npu:1", "mlu"):
        with pytest.raises(SettingError, match=rf"device '{device}' is not available to this torch"):
            load_model(str(tiny_llama_folder), device=device)
    for device in ("meta", "CPU", "vulkan"):
        with pytest.raises(SettingError, match=rf"device '{device}' is not one factcheck runs on"):
            load_model(str(tiny_llama_folder), device=device)


def test_the_cli_refuses_a_device_it_cannot_use_in_one_line(tiny_llama_folder, capsys):
    from factcheck.cli import main

    assert main(["model", "info", str(tiny_llama_folder), "--device", "meta"]) == 2
    assert "device 'meta' is not one factcheck runs on" in capsys.readouterr().err


@pytest.mark.parametrize("folder, said, fix", [
    ("~no_such_user_of_factcheck/cache", "FACTCHECK_CACHE='~no_such_user_of_factcheck/cache' cannot be found .* absolute path",
     "set FACTCHECK_CACHE to an absolute path"),
    # The 33rd pass: a folder name with a byte that is no UTF-8 (legal on Linux) failed the default model's conversion
    # on every run, and every LRE entry was written, then discarded as damaged, forever.
    (b"/caf\xe9/cache", "has bytes in its path that are not UTF-8 text", "set FACTCHECK_CACHE to a folder whose path is UTF-8")])
def test_a_cache_folder_that_cannot_be_found_or_used_is_one_setting_error(monkeypatch, tiny_llama_folder, tmp_path, capsys,
                                                                           folder, said, fix):
    import os

    from factcheck.cache import cache_root
    from factcheck.cli import main

    monkeypatch.setenv("FACTCHECK_CACHE", folder if isinstance(folder, str) else os.fsdecode(os.fsencode(str(tmp_path)) + folder))
    with pytest.raises(SettingError, match=said):
        cache_root()
    suite = tmp_path / "capital.json"
    suite.write_text('{"relation": "capital", "templates": ["The capital city of {subject} is"], "facts": ['
                     '{"subject": "France", "object": "Paris"}, {"subject": "Peru", "object": "Lima"}], "settings": {"shots": 1}}')
    assert main(["lens", "--relation", str(suite), "--model", str(tiny_llama_folder), "Peru is"]) == 2
    assert fix in capsys.readouterr().err


def test_a_model_path_that_is_not_utf8_is_one_message(tmp_path, tiny_llama_folder):
    # The 33rd pass: a folder named "m\xff" was blamed on its tokenizer files (UnicodeEncodeError inside tokenizers).
    import os
    import shutil

    from factcheck.model.language_model import ModelLoadError, load_model

    folder = os.fsdecode(os.fsencode(str(tmp_path)) + b"/m\xff")
    shutil.copytree(tiny_llama_folder, folder)
    with pytest.raises(ModelLoadError, match=r"m\\\\udcff'.* bytes that are not UTF-8 text.*rename the folder"):
        load_model(folder)


def test_the_cli_prints_names_with_control_characters_escaped(tmp_path, tiny_llama_folder, capsys):
    # The 33rd pass: `model info`, `tune` and `lens` wrote a model's or a suite's name raw: an escape sequence ran, a
    # carriage return overwrote the line ("m\x1b[31mRED\rPASS").
    import shutil

    from factcheck.cli import main

    folder = tmp_path / "m\x1b[31mRED\rPASS"
    shutil.copytree(tiny_llama_folder, folder)
    assert main(["model", "info", str(folder)]) == 0
    captured = capsys.readouterr()
    assert "m\\x1b[31mRED\\rPASS" in captured.out and "\x1b" not in captured.out + captured.err and "\r" not in captured.out
    suite = tmp_path / "s\x1b[31mRED\rPASS.json"
    suite.write_text('{"relation": "capital", "templates": ["The capital city of {subject} is"], "facts": ['
                     '{"subject": "France", "object": "Paris"}, {"subject": "Peru", "object": "Lima"}], "settings": {"shots": 1}}')
    main(["lens", "--relation", str(suite), "--model", str(folder), "Peru is"])
    captured = capsys.readouterr()
    assert "\x1b" not in captured.out + captured.err and "\r" not in captured.out + captured.err
    assert "\n" in captured.out  # lines are still lines
