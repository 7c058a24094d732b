"""LREs on disk: one safetensors file per estimate under cache_root()/lre/, never pickle.

An LRE applied without W (factcheck.knows.implicit_lre) keeps what it decoded
instead: one file per set of subject states, named by the LRE's key and a
hash of the states, so that a second run over the same model and suite
computes no product.

The file name is a hash of everything the estimate depends on (model
fingerprint, relation template and training facts, layer, n, beta, rank,
method and its options), so a changed model or relation can never pick up a
stale entry. Each file holds W and b plus its metadata (the key, the settings
and a checksum of the tensor bytes) in the safetensors header, and is written
to a temporary name and renamed: a reader sees a whole entry or none. An
entry that fails to load or to check out (truncated, garbage, wrong shape,
wrong key or checksum) is reported with a warning naming the file, deleted
and recomputed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_bytes

from factcheck.cache import cache_root, discard_entry, store_or_warn, warn, write_bytes_atomic
from factcheck.knows.implicit_lre import ImplicitLre, implicit_is_cheaper
from factcheck.knows.lre import (
    DEFAULT_BETA,
    DEFAULT_N_TRAIN,
    DEFAULT_OVERSAMPLE,
    DEFAULT_SKETCH_RANK,
    LayerSpec,
    Lre,
    all_finite,
    estimate_lre,
    relation_parts,
    require_finite,
    resolve_layer,
)
from factcheck.model.language_model import LanguageModel, library_versions
from factcheck.suites.suite import PLACEHOLDER, Fact, Suite
from factcheck.suites.prompts import Phrasing, as_phrasing

FORMAT = "factcheck-lre/1"
APPLIED_FORMAT = "factcheck-lre-applied/1"


class CorruptEntry(ValueError):
    pass


def lre_directory() -> Path:
    return cache_root() / "lre"


def cache_key(
    model_fingerprint: str,
    template: str | Phrasing,
    training: Sequence[Fact],
    layer: LayerSpec,
    *,
    n_train: int,
    beta: float,
    rank: int | None,
    method: str,
    method_options: dict[str, object] | None = None,
    chat_template: str | None = None,
) -> str:
    """A hash of everything an estimate depends on; equal keys mean interchangeable estimates (a chat phrasing's
    key covers the model's `chat_template`)."""
    phrasing = as_phrasing(template)
    template = phrasing.template
    document = {
        "format": FORMAT,
        # The libraries that run the model's passes: a transformers release that computes an architecture otherwise
        # would reuse the LREs of the old computation.
        "libraries": library_versions(),
        "model": model_fingerprint,
        "template": phrasing.cache_text(chat_template),
        "training": [[f.subject, f.object] for f in training],
        "layer": layer,
        "n_train": n_train,
        "beta": float(beta),
        "rank": rank,
        "method": method,
        "options": method_options or {},
    }
    tail = template.split(PLACEHOLDER, 1)[-1]
    if any(f.subject in tail for f in training):
        # Estimates from before training prompts found such a subject where the question puts it (not in the
        # template's words after it) were taken at the wrong token: they must not be read back.
        document["subject_in_template_tail"] = "question's occurrence"
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def entry_path(key: str) -> Path:
    return lre_directory() / f"{key}.safetensors"


def _checksum(*tensors: torch.Tensor) -> str:
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save_lre(lre: Lre, key: str, path: Path | None = None) -> Path:
    """Write `lre` atomically as one safetensors file whose header carries the key and metadata."""
    path = path or entry_path(key)
    weight = lre.weight.detach().cpu().contiguous()
    bias = lre.bias.detach().cpu().contiguous()
    require_finite(f"the LRE of {lre.relation or 'the relation'} at layer {lre.layer}", weight, bias)
    settings = {
        "layer": lre.layer,
        "beta": lre.beta,
        "rank": lre.rank,
        "relation": lre.relation,
        "template": as_phrasing(lre.template).template,
        **({"prompt": "chat", "system": lre.template.system} if as_phrasing(lre.template).chat else {}),
        "training": [list(pair) for pair in lre.training],
        "model_fingerprint": lre.model_fingerprint,
        "method": lre.method,
    }
    metadata = {
        "format": FORMAT,
        "key": key,
        "settings": json.dumps(settings, ensure_ascii=False),
        "checksum": _checksum(weight, bias),
    }
    write_bytes_atomic(path, safetensors_bytes({"weight": weight, "bias": bias}, metadata=metadata))
    return path


def _require_regular_file(path: Path) -> None:
    """CorruptEntry unless `path` is a regular file: opening a FIFO put in the cache would wait forever."""
    try:
        mode = os.stat(path).st_mode  # FileNotFoundError where there is no entry
    except NotADirectoryError:  # a file where the cache folder should be: no entry there either
        raise FileNotFoundError(path) from None
    if not stat.S_ISREG(mode):
        raise CorruptEntry("is not a regular file")


def load_lre(path: Path, key: str, hidden_size: int | None = None, expected: dict[str, object] | None = None) -> Lre:
    """Read an entry, raising CorruptEntry when anything about it is off. `expected`: the settings its key stands for
    (the checksum covers the tensors only, so settings edited in the header are caught here)."""
    try:
        _require_regular_file(path)
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            names = set(handle.keys())
            if names != {"weight", "bias"}:
                raise CorruptEntry(f"holds tensors {sorted(names)}, expected weight and bias")
            weight = handle.get_tensor("weight")
            bias = handle.get_tensor("bias")
    except SafetensorError as error:
        raise CorruptEntry(f"not a readable safetensors file ({error})") from None
    except OSError as error:  # e.g. truncated header or unreadable file
        raise CorruptEntry(f"cannot read ({error})") from None
    if metadata.get("format") != FORMAT:
        raise CorruptEntry(f"format {metadata.get('format')!r}, expected {FORMAT!r}")
    if metadata.get("key") != key:
        raise CorruptEntry(f"holds key {metadata.get('key')!r}, expected {key!r}")
    d = weight.shape[0] if weight.ndim == 2 else -1
    if weight.ndim != 2 or weight.shape[1] != d or tuple(bias.shape) != (d,):
        raise CorruptEntry(f"shapes {tuple(weight.shape)} and {tuple(bias.shape)} do not form an LRE")
    if hidden_size is not None and d != hidden_size:
        raise CorruptEntry(f"hidden size {d}, the model has {hidden_size}")
    if weight.dtype != torch.float32 or bias.dtype != torch.float32:
        # Written only as float32: integers would truncate the states they multiply, bools fail in the product.
        raise CorruptEntry(f"tensors of {weight.dtype} and {bias.dtype}, written as float32")
    if metadata.get("checksum") != _checksum(weight, bias):
        raise CorruptEntry("tensor checksum does not match")
    if not all_finite(weight, bias):
        raise CorruptEntry("holds infinite or NaN values")
    try:
        settings = json.loads(metadata["settings"])
        lre = Lre(
            weight=weight,
            bias=bias,
            layer=settings["layer"],
            beta=float(settings["beta"]),
            rank=settings["rank"],
            relation=settings["relation"],
            template=Phrasing(settings["template"], chat=True, system=settings["system"])
            if settings.get("prompt") == "chat" else settings["template"],
            training=tuple(tuple(pair) for pair in settings["training"]),
            model_fingerprint=settings["model_fingerprint"],
            method=settings["method"],
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CorruptEntry(f"bad settings in metadata ({error!r})") from None
    for name, value in (expected or {}).items():
        if _stored_setting(lre, name) != value:
            raise CorruptEntry(f"its {name} is {_stored_setting(lre, name)!r}, its key stands for {value!r}")
    return lre


def _stored_setting(lre: Lre, name: str) -> object:
    """One setting of a stored LRE as `expected_settings` writes it."""
    if name == "phrasing":
        phrasing = as_phrasing(lre.template)
        return (phrasing.template, phrasing.chat, phrasing.system if phrasing.chat else None)
    return getattr(lre, name)


def expected_settings(model_fingerprint: str, template: str | Phrasing, training: Sequence[Fact], layer: LayerSpec, *,
                      beta: float, rank: int | None, method: str) -> dict[str, object]:
    """The settings an entry's key stands for, as `load_lre` compares them."""
    phrasing = as_phrasing(template)
    return {"layer": layer, "beta": float(beta), "rank": rank, "method": method, "model_fingerprint": model_fingerprint,
            "training": tuple((fact.subject, fact.object) for fact in training),
            "phrasing": (phrasing.template, phrasing.chat, phrasing.system if phrasing.chat else None)}


def states_digest(states: torch.Tensor) -> str:
    digest = hashlib.sha256(str(tuple(states.shape)).encode())
    digest.update(states.detach().float().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class AppliedCache:
    """Decoded states of one implicit LRE (by its cache key), one file per set of subject states."""

    key: str
    hidden_size: int

    def path(self, states: torch.Tensor) -> Path:
        return lre_directory() / f"{self.key}.applied-{states_digest(states)}.safetensors"

    def load(self, states: torch.Tensor) -> torch.Tensor | None:
        path = self.path(states)
        try:
            _require_regular_file(path)
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                decoded = handle.get_tensor("decoded") if set(handle.keys()) == {"decoded"} else None
        except FileNotFoundError:
            return None  # not decoded yet (or removed by another process meanwhile)
        except (SafetensorError, OSError, CorruptEntry) as error:
            decoded, metadata = None, {"problem": str(error)}
        expected = (states.shape[0], self.hidden_size)
        if (decoded is None or tuple(decoded.shape) != expected or decoded.dtype != torch.float32
                or metadata.get("format") != APPLIED_FORMAT or metadata.get("key") != self.key
                or metadata.get("checksum") != _checksum(decoded)
                or not all_finite(decoded)):
            warn(f"factcheck: discarding corrupted LRE cache entry {path}; recomputing it")
            discard_entry(path)
            return None
        return decoded

    def save(self, states: torch.Tensor, decoded: torch.Tensor) -> None:
        decoded = decoded.detach().float().cpu().contiguous()
        require_finite("the LRE's decode of the relation's subject states", decoded)
        metadata = {"format": APPLIED_FORMAT, "key": self.key, "checksum": _checksum(decoded)}
        path = self.path(states)
        store_or_warn(lambda: write_bytes_atomic(path, safetensors_bytes({"decoded": decoded}, metadata=metadata)),
                      "LRE results", path.parent)


def load_or_estimate(
    model: LanguageModel,
    relation: Suite | tuple[str, Sequence[Fact]],
    layer: LayerSpec | None = None,
    *,
    n_train: int = DEFAULT_N_TRAIN,
    beta: float = DEFAULT_BETA,
    rank: int | None = None,
    method: str = "full",
    sketch_rank: int = DEFAULT_SKETCH_RANK,
    oversample: int = DEFAULT_OVERSAMPLE,
    seed: int = 0,
    cache: bool = True,
    implicit_states: int | None = None,
) -> tuple[Lre | ImplicitLre, bool]:
    """The relation's LRE from the disk cache when a valid entry exists, else estimated (and stored).

    `implicit_states`: how many subject states the caller will decode. When no W is cached and that is
    few against the model's width, the LRE comes back as an ImplicitLre, which decodes them exactly
    without W (and stores W here should a later call form it). Returns (lre, cache_hit). With
    cache=False the cache is neither read nor written.
    """
    options = dict(sketch_rank=sketch_rank, oversample=oversample, seed=seed) if method == "lowrank" else {}

    def estimate() -> Lre:
        lre = estimate_lre(model, relation, layer, n_train=n_train, beta=beta, rank=rank, method=method, **options)
        require_finite(f"the LRE of {lre.relation or 'the relation'} at layer {lre.layer}", lre.weight, lre.bias)
        return lre

    if not cache:
        return estimate(), False
    name, template, facts = relation_parts(relation)
    layer = resolve_layer(model, layer)
    key = cache_key(
        model.fingerprint, template, facts[:n_train], layer,
        n_train=n_train, beta=beta, rank=rank, method=method, method_options=options, chat_template=model.chat_template,
    )
    path = entry_path(key)
    if path.exists():
        try:
            expected = expected_settings(model.fingerprint, template, facts[:n_train], layer, beta=beta, rank=rank, method=method)
            stored = load_lre(path, key, model.hidden_size, expected)
            # The name is not part of the key (it does not change the estimate); report the caller's.
            return dataclasses.replace(
                stored, weight=stored.weight.to(model.device), bias=stored.bias.to(model.device), relation=name
            ), True
        except CorruptEntry as problem:
            warn(f"factcheck: discarding corrupted LRE cache entry {path}: {problem}; recomputing it")
            discard_entry(path)
    if implicit_states is not None and method == "full" and rank is None and implicit_is_cheaper(implicit_states, model.hidden_size):
        implicit = ImplicitLre(
            model, template, facts[:n_train], layer, float(beta), relation=name,
            on_weight=lambda formed: store_or_warn(lambda: save_lre(formed, key, path), "LRE results", path.parent),
            store=AppliedCache(key, model.hidden_size),
        )
        return implicit, False
    lre = estimate()
    store_or_warn(lambda: save_lre(lre, key, path), "LRE results", path.parent)
    return lre, False
