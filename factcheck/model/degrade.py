"""Degraded copies of a loaded model, for rehearsing a release gate: what would the gate say about this?

Every function takes a `LanguageModel` and returns a NEW one: the network is
deep-copied first and only the copy is changed, so the original's weights,
name and fingerprint stay as they were. The tokenizer object is shared (it is
never changed). Each copy gets a name that says what was done
(``smollm2+round4``, ``smollm2+ablate-mlp2``) and, because its weights differ,
a different fingerprint, so that LRE cache entries and baselines recorded for
the original are never mistaken for the copy's. A degradation that would leave
every weight as it was (and so the fingerprint too) raises `DegradeError`.

`round_weights(model, bits)`: symmetric per-output-row uniform quantization
-------------------------------------------------------------------------------
Applies to the ``weight`` of every ``nn.Linear``, every ``nn.Embedding``
(token and learned position embeddings), every GPT-2 style ``Conv1D`` (a
linear layer that stores its weight transposed, as in x @ W), every mixture of
experts' router, and each expert matrix of transformers' fused experts (one
(experts, out, in) tensor per projection). Biases, norms and any other
parameter are left alone. A weight shared by several modules (tied input and
output embeddings) is rounded once.

For each output row w of such a weight (a row of ``nn.Linear.weight`` and
``nn.Embedding.weight``; a *column* of ``Conv1D.weight``, whose second axis
is the output), with L = 2**(bits-1) - 1 levels on either side of zero:

    scale = max(|w|) / L
    q     = clamp(round(w / scale), -L, L)      (round half to even)
    w'    = q * scale

computed in float32 and stored back in the weight's own dtype. A row of zeros
stays zero. So each row holds at most 2*L + 1 = 2**bits - 1 distinct values
(one code of a two's-complement b-bit integer goes unused, as in symmetric
int8 quantization), its largest magnitude is kept exactly, and the rounding
error of each element is at most scale / 2. `bits` must be at least 2.

`ablate_mlp(model, block)`: one block's MLP writes nothing to the residual stream
-------------------------------------------------------------------------------
Zeroes the weight (and bias, when it has one) of the MLP's output projection
in block `block` of ``model.layout.blocks`` (negative indexes count from the
end). The MLP is the block's child named ``mlp``, ``feed_forward`` or ``ffn``;
its output projection is its child named ``down_proj`` (Llama, Gemma,
Mistral, Qwen), ``c_proj`` (GPT-2), ``dense_4h_to_h`` (GPT-NeoX), ``fc_out``
(GPT-J), ``fc2`` (OPT-style, Phi) or ``w2``. The block's attention and the
other blocks are untouched, so the block still passes its input on.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import fnmatch
import os
import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn

from factcheck.cache import (cache_root, default_cache_root, remove_abandoned_scratch, scratch_folder, temporary_prefix,
                             unwritable_reason, usual_permissions)
from factcheck.display import is_utf8_text, visible_controls
from factcheck.errors import FactcheckError
from factcheck.model.default_model import MARKER_FILE, forget_gguf_quantization
from factcheck.model.language_model import LanguageModel, no_progress_bars

MLP_NAMES = ("mlp", "feed_forward", "ffn")
MLP_OUTPUT_NAMES = ("down_proj", "c_proj", "dense_4h_to_h", "fc_out", "fc2", "w2")
# Fused experts outside transformers' experts interface (no `is_transposed`), which multiply states by their
# (experts, in, out) matrices: Llama 4's (torch.bmm(states, gate_up_proj)).
_EXPERTS_MULTIPLIED_FROM_THE_LEFT = {"Llama4TextExperts": True}


class DegradeError(FactcheckError, ValueError):
    pass


def _conv1d_class():
    try:
        from transformers.pytorch_utils import Conv1D
    except ImportError:  # pragma: no cover - every supported transformers has it
        return None
    return Conv1D


def output_axis(module: nn.Module) -> int | None:
    """The axis of `module.weight` that indexes outputs (0 for Linear and Embedding, 1 for Conv1D); None if not rounded."""
    conv1d = _conv1d_class()
    if conv1d is not None and isinstance(module, conv1d):
        return 1
    if isinstance(module, (nn.Linear, nn.Embedding)) or type(module).__name__.lower().endswith("router"):
        return 0  # (a mixture of experts' router: a linear layer's weight, outside nn.Linear)
    return None


def rounded_weights(model: nn.Module) -> list[tuple[str, nn.Parameter, int]]:
    """(parameter name, weight, output axis) for each weight `round_weights` rounds, each shared weight once."""
    found: list[tuple[str, nn.Parameter, int]] = []
    seen: set[int] = set()
    for name, module in model.named_modules():
        for parameter_name, weight, axis in _weights_rounded_in(module):
            if id(weight) not in seen:
                seen.add(id(weight))
                found.append((f"{name}.{parameter_name}" if name else parameter_name, weight, axis))
    return found


def _weights_rounded_in(module: nn.Module):
    axis = output_axis(module)
    weight = getattr(module, "weight", None)
    if axis is not None and isinstance(weight, torch.Tensor) and weight.dim() == 2:
        yield "weight", weight, axis
    elif isinstance(transposed := getattr(module, "is_transposed", _EXPERTS_MULTIPLIED_FROM_THE_LEFT.get(type(module).__name__)), bool):
        # transformers' fused experts (Mixtral, Qwen3-MoE, DeepSeek): each a (experts, out, in) tensor, or (experts,
        # in, out) where the module says they are transposed; their biases are left alone, as a Linear's are.
        for parameter_name, parameter in module.named_parameters(recurse=False):
            if parameter.dim() == 3:
                yield parameter_name, parameter, 2 if transposed else 1


def output_rows(weight: torch.Tensor, axis: int) -> torch.Tensor:
    """A view of `weight` whose second-last axis indexes outputs, so that its last axis runs along one output row."""
    return weight.movedim(axis, -2)


def quantize_rows(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """Symmetric uniform quantization of each row of a 2-D tensor to `bits` bits, back in the input's dtype."""
    if bits < 2:
        raise DegradeError(f"bits must be at least 2 (symmetric rounding needs a level on each side of zero), got {bits}")
    levels = 2 ** (bits - 1) - 1
    rows = weight.detach().to(torch.float32)
    scale = rows.abs().amax(dim=1, keepdim=True) / levels
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.clamp(torch.round(rows / safe), -levels, levels)
    return torch.where(scale > 0, q * scale, torch.zeros_like(rows)).to(weight.dtype)


def _copy(model: LanguageModel, suffix: str) -> LanguageModel:
    network = copy.deepcopy(model.model)
    return LanguageModel(network, model.tokenizer, name=f"{model.name}+{suffix}", load_seconds=model.load_seconds)


def _check_changed(original: LanguageModel, degraded: LanguageModel, what: str) -> LanguageModel:
    if degraded.fingerprint == original.fingerprint:
        raise DegradeError(f"{what} left every weight of {original.name!r} as it was (fingerprint {original.fingerprint})")
    return degraded


@torch.no_grad()
def round_weights(model: LanguageModel, bits: int) -> LanguageModel:
    """A copy of `model` whose Linear/Embedding/Conv1D, router and expert weights are rounded to `bits` bits per output
    row (see the module doc)."""
    if bits < 2:
        raise DegradeError(f"bits must be at least 2, got {bits}")
    degraded = _copy(model, f"round{bits}")
    for _, weight, axis in rounded_weights(degraded.model):
        rows = output_rows(weight, axis)
        rows.copy_(quantize_rows(rows.reshape(-1, rows.shape[-1]), bits).view(rows.shape))
    return _check_changed(model, degraded, f"rounding to {bits} bits")


def mlp_output(model: LanguageModel, block: int) -> tuple[str, nn.Module]:
    """(name inside the block, module) of the MLP output projection of block `block`."""
    blocks = model.layout.blocks
    if not -len(blocks) <= block < len(blocks):
        raise DegradeError(f"block {block} is out of range: {model.name!r} has {len(blocks)} blocks")
    layer = blocks[block]
    for mlp_name in MLP_NAMES:
        mlp = getattr(layer, mlp_name, None)
        if not isinstance(mlp, nn.Module):
            continue
        for out_name in MLP_OUTPUT_NAMES:
            out = getattr(mlp, out_name, None)
            if isinstance(out, nn.Module) and isinstance(getattr(out, "weight", None), torch.Tensor):
                return f"{mlp_name}.{out_name}", out
        children = ", ".join(name for name, _ in mlp.named_children())
        raise DegradeError(
            f"block {block} of {model.name!r} has an MLP ({type(mlp).__name__}: {children}) but none of the "
            f"output projections {MLP_OUTPUT_NAMES}"
        )
    children = ", ".join(name for name, _ in layer.named_children())
    raise DegradeError(f"block {block} of {model.name!r} ({type(layer).__name__}: {children}) has none of the MLPs {MLP_NAMES}")


@torch.no_grad()
def ablate_mlp(model: LanguageModel, block: int) -> LanguageModel:
    """A copy of `model` whose block `block` MLP output projection is all zeros (weight and bias)."""
    mlp_output(model, block)  # fail before copying
    index = block % model.num_layers
    degraded = _copy(model, f"ablate-mlp{index}")
    _, out = mlp_output(degraded, index)
    out.weight.zero_()
    if isinstance(getattr(out, "bias", None), torch.Tensor):
        out.bias.zero_()
    return _check_changed(model, degraded, f"ablating the MLP of block {index}")


def check_output_folder(folder: Path, source: str | Path | None = None, replace: bool = False) -> Path:
    """`folder` resolved, where a degraded model may be written; DegradeError naming the problem otherwise. Replacing
    deletes what the folder holds, so only a model folder is ever replaced, and never the model being degraded, the
    working folder or a folder above it."""
    given = Path(folder).expanduser()
    # A link that leads nowhere, at --out or above it: resolving it would make folders wherever it leads.
    for part in (given, *given.parents):
        if part.is_symlink() and not part.exists():
            raise DegradeError(f"{visible_controls(str(part))} is a link that leads nowhere "
                               f"({visible_controls(os.readlink(part))}): give a folder, or a link to one that exists")
    try:
        folder = given.resolve()
        source_path = Path(source).expanduser().resolve() if source and Path(source).expanduser().exists() else None
    except (OSError, RuntimeError) as error:
        raise DegradeError(f"{folder} cannot be used: {error}") from None
    if not is_utf8_text(str(folder)):  # found only once the model was degraded, by safetensors and the tokenizer
        raise DegradeError(f"{visible_controls(str(folder))} has bytes in its path that are not UTF-8 text, which the "
                           "model files cannot be written under: give a folder whose path is UTF-8")
    if folder.exists() and not folder.is_dir():
        raise DegradeError(f"{folder} is a file: give a folder for the degraded model")
    if Path.cwd().resolve().is_relative_to(folder):
        raise DegradeError(f"{folder} is the working folder or holds it: give a new folder for the degraded model")
    if source_path is not None and (source_path == folder or source_path.is_relative_to(folder)):
        raise DegradeError(f"{folder} holds the model being degraded ({source_path}): give another folder")
    if source_path is not None and source_path.is_dir() and folder.is_relative_to(source_path):
        raise DegradeError(f"{folder} is inside the model being degraded ({source_path}): give a folder outside it")
    for cache in _cache_folders():
        if folder.is_relative_to(cache) or cache.is_relative_to(folder):
            # factcheck converts, checks and deletes entries there: a degraded model written over the converted default
            # model was replaced by a new conversion on the next load, without a word.
            raise DegradeError(f"{folder} {'lies in' if folder.is_relative_to(cache) else 'holds'} factcheck's cache ({cache}), "
                               "whose entries factcheck replaces or deletes: give a folder outside it")
    if (folder / MARKER_FILE).exists():  # a converted default model in a cache set elsewhere (another FACTCHECK_CACHE)
        raise DegradeError(f"{folder} holds a model factcheck converted into its cache ({MARKER_FILE}), which factcheck "
                           "replaces or deletes: give a folder outside any factcheck cache")
    if folder.is_dir() and any(folder.iterdir()):
        if not replace:
            raise DegradeError(f"{folder} already holds files: give an empty or new folder, or --force to replace it")
        others = _not_model_files(folder)
        if others or not (folder / "config.json").is_file():
            held = f"files that are not a model's ({', '.join(others[:5])})" if others else "no model (config.json)"
            raise DegradeError(f"{folder} holds {held}: --force replaces only a folder holding nothing but a model's files "
                               "(config, weights, tokenizer); give a new folder")
    reason = unwritable_reason(folder / "config.json")
    if reason:
        raise DegradeError(f"the degraded model cannot be written to {folder}: {reason}")
    return folder


def _cache_folders() -> list[Path]:
    """factcheck's cache folder, and where it lies by default (XDG_CACHE_HOME, ~/.cache): a run with another
    FACTCHECK_CACHE (CI and a shell) uses those. Resolved; one that cannot be found is left out."""
    found = []
    for where in (cache_root, default_cache_root, lambda: Path("~/.cache/factcheck").expanduser()):
        with contextlib.suppress(FactcheckError, OSError, RuntimeError):
            found.append(where().resolve())
    return found


# What save_pretrained writes for a model and its tokenizer: a folder of these alone may be replaced.
MODEL_FILE_PATTERNS = ("config.json", "generation_config.json", "*.safetensors", "model.safetensors.index.json",
                       "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                       "vocab.json", "vocab.txt", "merges.txt", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model",
                       "chat_template.jinja", "chat_template.json",
                       "factcheck-model.json")


def _not_model_files(folder: Path) -> list[str]:
    """The entries of `folder` that are not a saved model's files (subfolders, links and other files)."""
    return sorted(entry.name + ("/" if entry.is_dir() else "") for entry in folder.iterdir()
                  if entry.is_symlink() or not entry.is_file()
                  or not any(fnmatch.fnmatch(entry.name, pattern) for pattern in MODEL_FILE_PATTERNS))


def _a_full_disk(error: Exception) -> bool:
    """Whether saving failed for want of space: an OSError's ENOSPC or EDQUOT, or safetensors' own error saying so."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    return "no space left" in str(error).lower() or "quota exceeded" in str(error).lower()


def save_model(model: LanguageModel, folder: Path, replace: bool = False) -> Path:
    """Write `model` (weights as safetensors, config, tokenizer) to `folder`, which --factcheck-model then loads.

    The files are written to a new folder beside it and moved into place whole, so a crash or a full disk never
    leaves a half-written model where a run would load it. An existing non-empty `folder` is replaced only with
    `replace`."""
    folder = check_output_folder(folder, replace=replace)
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned_scratch(folder)  # a killed run's half-written model (SIGKILL, out of memory)
    staging = scratch_folder(folder)
    forget_gguf_quantization(model.model)  # a model read from a GGUF file is saved as the de-quantized weights it holds
    try:
        try:
            with no_progress_bars():
                model.model.save_pretrained(staging)
                model.tokenizer.save_pretrained(staging)
        except Exception as error:  # noqa: BLE001 - safetensors' own error type for a full disk is no OSError
            free = shutil.disk_usage(staging).free
            if _a_full_disk(error):
                raise DegradeError(f"could not write the model under {folder.parent} ({free / 2**20:,.0f} MiB free): "
                                   f"{error}; free space there or give another --out (nothing was left behind)") from None
            raise DegradeError(f"could not write the model to {folder}: {error} (nothing was left behind)") from None
        usual_permissions(staging)
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=temporary_prefix(folder.name) + "old.", dir=folder.parent))
            folder.rename(old / "model")
            try:
                staging.rename(folder)
            except BaseException:
                (old / "model").rename(folder)  # the earlier model goes back where it was
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder
