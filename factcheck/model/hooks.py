"""Every way factcheck reaches inside a model's forward pass, in one place.

* Read or edit the residual stream at a block (`capture_blocks`, `edit_residual`).
* Make the first blocks return an output known in advance (`blocks_replaced`).
* Route attention through a function of factcheck's own (`route_attention`).
* Hold rotary frequencies that a forward would update in place (`rotary_frequencies_held`), and run experts by
  their eager loop (`experts_run_eagerly`), inside torch.func's transforms (`ready_for_transforms`).

What a pass needs (the attention route in use) is per-call state: it lives in
a ContextVar set by the context manager that owns the pass, so a nested route
restores the outer one and no route outlives its `with`. The switch to the
routed implementation is on the model's config, so one model runs one pass at
a time. Forward hooks are registered on the blocks for the length of one
`with` and removed after it.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import TYPE_CHECKING, Callable, Iterator, Sequence, Union

import torch
from torch import nn
from transformers import AttentionInterface

from factcheck.errors import FactcheckError

if TYPE_CHECKING:
    from factcheck.model.language_model import LanguageModel

LayerSpec = Union[int, str]  # a block index, or "emb" for the embedding output (the input of block 0)
EMBEDDING_LAYER = "emb"

# An attention function with transformers' AttentionInterface signature:
# (module, query, key, value, attention_mask, **kwargs) -> (output, weights or None).
AttentionRoute = Callable[..., tuple[torch.Tensor, "torch.Tensor | None"]]

ATTENTION_NAME = "factcheck"
_active_route: ContextVar[AttentionRoute | None] = ContextVar("factcheck_attention_route", default=None)


# ---- the residual stream ------------------------------------------------------------------
def block_output_states(model: LanguageModel, output) -> torch.Tensor:
    """A block's output hidden states (blocks return a tensor or a tuple that starts with one), one per token."""
    states = output[0] if isinstance(output, tuple) else output
    if states.dim() != 3:
        # Gemma 3n's blocks carry several residual streams (AltUp): indexing their first dimension as the batch's
        # failed every fact with an IndexError traceback.
        raise FactcheckError(
            f"model {model.name!r}: its blocks give their states as a tensor of shape {list(states.shape)}, not one state "
            "per token ([batch, tokens, width]; Gemma 3n's AltUp keeps several streams), and factcheck's know-check, lens "
            "and tune read one residual stream; run with --factcheck-lre=off to check what the model says")
    return states


def _with_states(output, states: torch.Tensor):
    return (states, *output[1:]) if isinstance(output, tuple) else states


@contextlib.contextmanager
def capture_blocks(model: LanguageModel, layers: Sequence[int]) -> Iterator[dict[int, torch.Tensor]]:
    """Record the output of the given blocks during passes inside the `with`, by block index."""
    captured: dict[int, torch.Tensor] = {}
    handles = []
    try:
        for layer in layers:
            def keep(module, args, output, layer=layer):
                captured[layer] = block_output_states(model, output)

            handles.append(model.layout.blocks[layer].register_forward_hook(keep))
        yield captured
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def edit_residual(model: LanguageModel, layer: LayerSpec, edit: Callable[[torch.Tensor], torch.Tensor | None]) -> Iterator[None]:
    """Call `edit(states) -> new states or None (keep)` on the residual stream at `layer` during passes inside the `with`.

    Block l's output is read at its forward hook; "emb" is the input of block 0
    (for GPT-2 that includes the position embeddings, as hidden_states[0] does).
    """
    if layer == EMBEDDING_LAYER:
        def pre_hook(module, args, kwargs):
            if args:
                new = edit(args[0])
                return None if new is None else ((new, *args[1:]), kwargs)
            new = edit(kwargs["hidden_states"])
            return None if new is None else (args, {**kwargs, "hidden_states": new})

        handle = model.layout.blocks[0].register_forward_pre_hook(pre_hook, with_kwargs=True)
    else:
        def hook(module, args, output):
            new = edit(block_output_states(model, output))
            return None if new is None else _with_states(output, new)

        handle = model.layout.blocks[layer].register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@contextlib.contextmanager
def capture_residual(model: LanguageModel, layer: LayerSpec) -> Iterator[dict[str, torch.Tensor]]:
    """The residual stream at `layer` (a block index or "emb") of the last pass inside the `with`, under "states"."""
    captured: dict[str, torch.Tensor] = {}

    def keep(states):
        captured["states"] = states

    with edit_residual(model, layer, keep):
        yield captured


@contextlib.contextmanager
def blocks_replaced(model: LanguageModel, count: int, output: torch.Tensor) -> Iterator[None]:
    """The first `count` blocks skip their computation and each return `output` (the last of them's known
    output). Their hooks still run, so an edit or a capture at block `count - 1` applies as before; one at an
    earlier block would see `output`, not that block's own."""
    blocks = model.layout.blocks[:count]
    # Falcon's and GPT-Neo's loops take the first item of what a block returns: a bare state lost its batch there.
    returned = (output,) if model.blocks_return_tuples else output
    try:
        for block in blocks:
            block.forward = lambda *args, **kwargs: returned
        yield
    finally:
        for block in blocks:
            block.__dict__.pop("forward", None)


# ---- attention routing --------------------------------------------------------------------
def _routed_attention(module, query, key, value, attention_mask, **kwargs):
    route = _active_route.get()
    if route is None:
        raise FactcheckError("factcheck's attention was called outside a factcheck pass (no route is active)")
    return route(module, query, key, value, attention_mask, **kwargs)


AttentionInterface.register(ATTENTION_NAME, _routed_attention)


def attention_configs(model: nn.Module) -> list:
    """Every distinct config of `model`'s modules that names an attention implementation."""
    configs: dict[int, object] = {}
    for module in model.modules():
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "_attn_implementation"):
            configs[id(config)] = config
    return list(configs.values())


@contextlib.contextmanager
def route_attention(model: nn.Module, route: AttentionRoute) -> Iterator[None]:
    """Run every attention module of `model` through `route` during passes inside the `with`, then restore
    each config's own implementation and the route that was active before."""
    configs = attention_configs(model)
    saved = [(config, config._attn_implementation) for config in configs]
    token = _active_route.set(route)
    try:
        for config in configs:
            config._attn_implementation = ATTENTION_NAME
        yield
    finally:
        for config, previous in saved:
            config._attn_implementation = previous
        _active_route.reset(token)


# ---- what torch.func's transforms need of a model ------------------------------------------------
@contextlib.contextmanager
def ready_for_transforms(model: LanguageModel, positions: torch.Tensor) -> Iterator[None]:
    """The model as torch.func's transforms (the LRE's Jacobians) can run it: rotary frequencies held, experts run by
    their eager loop."""
    with rotary_frequencies_held(model, positions), experts_run_eagerly(model):
        yield


@contextlib.contextmanager
def experts_run_eagerly(model: LanguageModel) -> Iterator[None]:
    """Mixture-of-experts layers on transformers' fused kernels (torch._grouped_mm: Qwen3-MoE, Mixtral, DeepSeek) have
    no forward-mode derivative: the LRE's Jacobian failed every fact. Inside the transforms they run transformers'
    eager loop over the same experts; other models are untouched."""
    network = model.model
    current = getattr(network.config, "_experts_implementation", None)
    if current in (None, "eager") or not getattr(network, "_can_set_experts_implementation", lambda: False)():
        yield
        return
    network.set_experts_implementation("eager")
    try:
        yield
    finally:
        network.set_experts_implementation(current)


@contextlib.contextmanager
def rotary_frequencies_held(model: LanguageModel, positions: torch.Tensor) -> Iterator[None]:
    """Rotary embeddings that update their frequencies in place as they run (LongRoPE: Phi-3.5-mini, Phi-4-mini) are
    updated once for `positions`, then run without the update: torch.func's transforms refuse an in-place write to a
    tensor made outside them, and the update inside the LRE's Jacobian failed every fact. Other models are untouched."""
    held = []
    for module in model.model.modules():
        forward = getattr(type(module), "forward", None)
        plain_forward = getattr(forward, "__wrapped__", None)  # transformers' dynamic_rope_update keeps it there
        if plain_forward is None or not isinstance(getattr(module, "inv_freq", None), torch.Tensor):
            continue
        if getattr(module, "rope_type", "default") in ("default", "linear"):
            continue  # fixed frequencies: nothing is written as it runs
        with torch.no_grad():
            module(torch.zeros((), dtype=model.dtype, device=positions.device), positions)  # the update, outside any transform
        module.forward = plain_forward.__get__(module)
        held.append(module)
    try:
        yield
    finally:
        for module in held:
            del module.forward  # back to the class's (updating) forward
