"""The straightforward LRE estimator: the slow baseline that factcheck.knows.lre's fast path must reproduce.

Nothing clever on purpose: every evaluation runs the whole prompt through the
model's own forward (HF's eager attention, no key/value cache), a forward
hook puts h in block l's output at the subject position, and
`torch.autograd.functional.jacobian` takes one backward pass per row of J.
Eager attention because PyTorch's fused CPU attention has no double backward,
which `torch.autograd.functional.jvp` needs.
Shared by tests/test_lre.py and bench/bench_lre_speed.py.
"""

from __future__ import annotations

import contextlib
from typing import Sequence

import torch

from factcheck.model.language_model import LanguageModel
from factcheck.suites.prompts import build_prompt, subject_token_index
from factcheck.suites.suite import Fact


@contextlib.contextmanager
def eager_attention(model: LanguageModel):
    previous = model.config._attn_implementation
    model.model.set_attn_implementation("eager")
    try:
        yield
    finally:
        model.model.set_attn_implementation(previous)


def reference_problem(model: LanguageModel, text: str, subject: str, layer):
    """(h, z, f) for one prompt: the subject state, the object state and f(h) -> object state."""
    ids, offsets = model.tokenize([text])
    input_ids = torch.tensor(ids, device=model.device)
    position = subject_token_index(text, subject, offsets[0])
    blocks = model.layout.blocks

    def run(replacement):
        seen = {}

        def at_layer(states):
            seen["h"] = states[0, position]
            if replacement is None:
                return None
            states = states.clone()
            states[0, position] = replacement
            return states

        if layer == "emb":
            def hook(module, args, kwargs):
                if args:
                    new = at_layer(args[0])
                    return None if new is None else ((new, *args[1:]), kwargs)
                new = at_layer(kwargs["hidden_states"])
                return None if new is None else (args, {**kwargs, "hidden_states": new})

            handle = blocks[0].register_forward_pre_hook(hook, with_kwargs=True)
        else:
            def hook(module, args, output):
                states = output[0] if isinstance(output, tuple) else output
                new = at_layer(states)
                if new is None:
                    return None
                return (new, *output[1:]) if isinstance(output, tuple) else new

            handle = blocks[layer].register_forward_hook(hook)

        def keep_last(module, args, output):
            seen["z"] = (output[0] if isinstance(output, tuple) else output)[0, -1]

        last = blocks[-1].register_forward_hook(keep_last)
        try:
            with eager_attention(model):
                model.model(input_ids=input_ids, use_cache=False)
        finally:
            handle.remove()
            last.remove()
        return seen

    with torch.no_grad():
        first = run(None)
    h, z = first["h"].clone(), first["z"].clone()

    def f(replacement):
        return run(replacement)["z"]

    return h, z, f


def reference_jacobian(model: LanguageModel, text: str, subject: str, layer):
    h, z, f = reference_problem(model, text, subject, layer)
    jacobian = torch.autograd.functional.jacobian(f, h)
    return h, z, jacobian


def reference_training_prompts(model: LanguageModel, template: str, facts: Sequence[Fact], n_train: int):
    training = list(facts[:n_train])
    return [(build_prompt(model.bos_text, template, f.subject, training).text, f.subject) for f in training]


def reference_estimate(model: LanguageModel, template: str, facts: Sequence[Fact], layer, n_train: int = 8):
    """(W, b): the mean Jacobian and mean z - J h over the first n_train facts, each with the others as demos."""
    weights, biases = [], []
    for text, subject in reference_training_prompts(model, template, facts, n_train):
        h, z, jacobian = reference_jacobian(model, text, subject, layer)
        weights.append(jacobian)
        biases.append(z - jacobian @ h)
    return torch.stack(weights).mean(0), torch.stack(biases).mean(0)


def reference_lre_outputs(model, template, facts, layer, n_train, beta, query_states):
    """beta * W h + b for each row of `query_states`, without ever forming W: J_i h by autograd's jvp."""
    outputs = torch.zeros_like(query_states)
    prompts = reference_training_prompts(model, template, facts, n_train)
    for text, subject in prompts:
        h, z, f = reference_problem(model, text, subject, layer)
        _, jh = torch.autograd.functional.jvp(f, h, h)
        outputs += z - jh
        for row, query in enumerate(query_states):
            _, jq = torch.autograd.functional.jvp(f, h, query)
            outputs[row] += beta * jq
    return outputs / len(prompts)
