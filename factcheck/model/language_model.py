"""One object over any Hugging Face causal LM: loading, layout, residual stream, batched passes.

Architectures differ in where they keep their blocks, final norm and output
head (Llama and Gemma: `model.layers` / `model.norm`; GPT-2 and GPT-J:
`transformer.h` / `transformer.ln_f`; GPT-NeoX: `gpt_neox.layers` /
`final_layer_norm`). `LanguageModel` finds them once and exposes them under
one set of names, so the rest of factcheck never looks at a model class.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import math
import os
import re
import socket
import threading
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence
from urllib.parse import urlsplit

import torch
from torch import nn

from factcheck.cache import file_kind, warn
from factcheck.display import is_utf8_text, visible_controls
from factcheck.errors import FactcheckError, SettingError
from factcheck.model.hooks import capture_blocks
from factcheck.suites.prompts import CHAT_SEPARATOR, REPLY_PROBE, reply_separator
from factcheck.types import DEVICE_PATTERN, DTYPE_NAMES

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}
assert set(DTYPES) | {"auto"} == set(DTYPE_NAMES), "the plugin validates --factcheck-dtype against DTYPE_NAMES"

_BLOCK_LIST_NAMES = ("layers", "h", "blocks")
_FINAL_NORM_NAMES = ("norm", "ln_f", "final_layer_norm", "final_norm", "final_layernorm")  # the last: Phi-1 to 2


class ModelLoadError(FactcheckError, ValueError):
    """A model spec that names nothing transformers can load as a causal LM."""


class ModelLayoutError(FactcheckError, RuntimeError):
    pass


@dataclass(frozen=True)
class Layout:
    """The parts of a causal LM that factcheck reads or hooks."""

    embed: nn.Module
    blocks: nn.ModuleList
    final_norm: nn.Module
    unembed: nn.Module


# Recurrent (state-space) layers among attention ones: Falcon-H1, Bamba, Jamba, Zamba, Granite-4.0-H, Qwen3-Next;
# and wholly recurrent models (Mamba, RWKV).
_RECURRENT_LAYER = re.compile(r"Mamba|SSM|Mixer$|GatedDeltaNet|LinearAttention|Recurrent|^Rwkv")


# The kinds of layer transformers' configs name in `layer_types` that hold a state running on along the sequence
# (convolutions, state-space and linear-attention layers, and layers that combine one with attention).
_STATEFUL_LAYER_TYPES = ("conv", "hybrid", "hybrid_sliding", "linear_attention", "mamba", "recurrent")


def _refuse_recurrent_layers(model: nn.Module) -> None:
    """factcheck's packed passes share one attention cache across prompts; a recurrent layer's state would carry one
    prompt into the next (every pass failed with an IndexError traceback in the cache, and the right cache would
    change verdicts without a word). Found by the layers' class names, or by the kinds the config's `layer_types`
    names (LFM2's short convolutions were refused only for their final norm's name)."""
    config = getattr(model, "config", None)
    for settings in (config, getattr(config, "text_config", None)):
        kinds = getattr(settings, "layer_types", None)
        stateful = sorted({kind for kind in kinds if kind in _STATEFUL_LAYER_TYPES}) if isinstance(kinds, (list, tuple)) else []
        if stateful:
            raise ModelLayoutError(
                f"{type(model).__name__} holds layers that are not attention alone ({', '.join(map(repr, stateful))}, "
                "by its config's layer_types): factcheck reads transformers whose every block is attention, and packs "
                "many prompts into one pass, which a convolution's or a recurrent layer's state would carry from one prompt "
                "into the next; such models are not supported")
    recurrent = next((type(module).__name__ for module in model.modules() if _RECURRENT_LAYER.search(type(module).__name__)), None)
    if recurrent:
        raise ModelLayoutError(f"{type(model).__name__} holds recurrent (state-space) layers ({recurrent}): factcheck reads "
                               "transformers whose every block is attention, and packs many prompts into one pass, which a "
                               "recurrent state would carry from one prompt into the next; such models are not supported")


def find_layout(model: nn.Module) -> Layout:
    _refuse_attention_position_biases(model)
    _refuse_recurrent_layers(model)
    base = getattr(model, "base_model", model)
    # Multimodal wrappers (e.g. Gemma 3 conditional generation) nest the text model one level down; OPT keeps its
    # blocks in a decoder.
    blocks_without_a_norm = None
    for candidate in (base, getattr(base, "language_model", None), getattr(base, "model", None), getattr(base, "decoder", None)):
        if candidate is None:
            continue
        blocks = next(
            (getattr(candidate, n) for n in _BLOCK_LIST_NAMES if isinstance(getattr(candidate, n, None), nn.ModuleList)),
            None,
        )
        norm = next((getattr(candidate, n) for n in _FINAL_NORM_NAMES if isinstance(getattr(candidate, n, None), nn.Module)), None)
        if blocks is not None and norm is not None:
            unembed = model.get_output_embeddings()
            if unembed is None:
                raise ModelLayoutError(f"{type(model).__name__} has no output embedding (lm_head)")
            return Layout(embed=model.get_input_embeddings(), blocks=blocks, final_norm=norm, unembed=unembed)
        if blocks is not None and blocks_without_a_norm is None:
            blocks_without_a_norm = candidate
    if blocks_without_a_norm is not None:
        # OPT-350m normalises after each block and projects out; XGLM, BioGPT, mBART and Whisper decoders name their
        # final norm otherwise and compute positions their own way: none of them is a layout factcheck has checked.
        children = ", ".join(name for name, _ in blocks_without_a_norm.named_children())
        raise ModelLayoutError(
            f"{type(model).__name__} is not a layout factcheck reads: its blocks are there, but no final norm among "
            f"{_FINAL_NORM_NAMES} before its output head (its modules: {children}); factcheck decodes the residual stream "
            "through that norm and head, so this architecture is not supported; run a causal LM of the Llama, Qwen, "
            "Mistral, Gemma, Phi, GPT-2, OPT (other than 350m) or Falcon families")
    raise ModelLayoutError(
        f"cannot find the transformer blocks and final norm of {type(model).__name__}; "
        f"looked for {_BLOCK_LIST_NAMES} and {_FINAL_NORM_NAMES} (a state-space or recurrent model, Mamba or RWKV, has "
        "none: factcheck reads the residual stream of a transformer's blocks)"
    )


def _refuse_attention_position_biases(model: nn.Module) -> None:
    """ALiBi models (BLOOM, MPT, Falcon with `alibi: true`) build their position biases from a 2-D attention mask;
    factcheck's packed passes give a 4-D one, and every fact failed with transformers' "too many values to unpack"."""
    config = getattr(model, "config", None)
    attention_config = getattr(config, "attn_config", None)
    if (getattr(config, "model_type", None) in ("bloom", "mpt") or getattr(config, "alibi", None) is True
            or getattr(attention_config, "alibi", None) is True):
        raise ModelLayoutError(f"{type(model).__name__} adds ALiBi position biases to its attention, which factcheck's packed "
                               "passes cannot give it: this model cannot be checked; use one with rotary or learned "
                               "positions (Llama, Qwen, Mistral, Gemma, Phi, GPT-2, Falcon without alibi)")


@dataclass
class Encoded:
    """A left-padded batch of prompts with the positions each token really has."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    lengths: list[int]
    offsets: list[list[tuple[int, int]]] = field(default_factory=list)

    @property
    def width(self) -> int:
        return int(self.input_ids.shape[1])

    def padded_index(self, row: int, token_index: int) -> int:
        """Column in the padded batch of token `token_index` of prompt `row` (negative indexes count from the end)."""
        if token_index < 0:
            token_index += self.lengths[row]
        return self.width - self.lengths[row] + token_index


@dataclass
class ForwardResult:
    logits: torch.Tensor  # (batch, kept positions, vocab)
    block_outputs: dict[int, torch.Tensor]  # layer -> (batch, width, hidden), pre-final-norm residual stream


def left_pad(sequences: Sequence[Sequence[int]], pad_id: int, device: torch.device | str = "cpu") -> Encoded:
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        if seq:
            ids[row, width - len(seq) :] = torch.tensor(list(seq), dtype=torch.long)
            mask[row, width - len(seq) :] = 1
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    return Encoded(
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        position_ids=positions.to(device),
        lengths=[len(s) for s in sequences],
    )


# How long a model's chat template may take to render its first prompt (a normal one takes milliseconds).
CHAT_TEMPLATE_SECONDS = 30.0
# The memory the process may grow by while a chat template renders its first prompt (a loop that writes pieces
# grew it by 130 to 370 MB/s).
CHAT_TEMPLATE_GROWTH_BYTES = 2 * 2**30
CHAT_TEMPLATE_CHARACTERS_PER_POSITION = 64  # a rendering longer than this many per position is no prompt


class ChatTemplateHangs(Exception):
    """A chat template did not render a prompt within CHAT_TEMPLATE_SECONDS."""


_NOT_LOOKED_UP = object()  # a memo not filled yet


class LanguageModel:
    """A loaded causal LM with its tokenizer and a uniform view of its residual stream."""

    def __init__(self, model: nn.Module, tokenizer, *, name: str, load_seconds: float = 0.0):
        self.model = model.eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self.tokenizer = tokenizer
        self.name = name
        self.load_seconds = load_seconds
        self.layout = find_layout(model)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
        self._fingerprint: str | None = None
        self._token_texts: dict[int, str] = {}
        self._chat_template_rendered: str | None = None  # the chat template that has rendered a prompt in time
        self._chat_template_hangs = False
        self._chat_template_growth = False  # given up on for its memory, not its time
        self._head_scale: float | None = None  # measured at the first decode (`head_scale`)
        self._blocks_return_tuples: bool | None = None  # seen on the first pass that needs it (`blocks_return_tuples`)
        self._start_id: object = _NOT_LOOKED_UP  # the start token's id (`_start_token_id`)

    # ---- facts about the model -------------------------------------------------
    @property
    def config(self):
        return self.model.config

    @property
    def architecture(self) -> str:
        return type(self.model).__name__

    @property
    def num_layers(self) -> int:
        return len(self.layout.blocks)

    @property
    def hidden_size(self) -> int:
        return int(self.layout.unembed.weight.shape[1])

    @property
    def vocab_size(self) -> int:
        return int(self.layout.unembed.weight.shape[0])

    @property
    def dtype(self) -> torch.dtype:
        return self.layout.unembed.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.layout.embed.weight.device

    @property
    def bos_text(self) -> str:
        """The text that starts every prompt: the tokenizer's BOS token, else its end-of-text token."""
        return self.tokenizer.bos_token or self.tokenizer.eos_token or ""

    @property
    def chat_template(self) -> str | None:
        """The tokenizer's chat template (None: the model has none). Of named templates (a tool-use model's list in
        tokenizer_config.json), the one named "default", which transformers renders when asked for none."""
        template = getattr(self.tokenizer, "chat_template", None)
        if isinstance(template, dict):
            template = template.get("default")
        return template if isinstance(template, str) and template.strip() else None

    def chat_text(self, messages: list[dict[str, str]]) -> str:
        """`messages` rendered by the model's chat template, ending with the opening of the assistant's turn."""
        if self.chat_template is None:
            raise SettingError(f"model {self.name!r} has no chat template (its tokenizer sets none), so its facts cannot be "
                               "asked as chat: set `prompt` to `text` (--factcheck-prompt=text or the suite's settings)")
        try:
            text = self._render_chat(messages)
        except ChatTemplateHangs:
            raise self._hanging_template_error() from None
        except Exception as error:  # noqa: BLE001 - a template's own error (jinja, or one it raises) names no setting
            if type(error).__name__ == "TemplateSyntaxError":  # jinja2's: the template itself is broken
                raise SettingError(f"the chat template of model {self.name!r} cannot be read (line {getattr(error, 'lineno', '?')}: "
                                   f"{error}): fix the model's chat_template.jinja (or chat_template in "
                                   "tokenizer_config.json), or ask with `prompt: text`") from None
            if type(error).__name__ == "SecurityError" and re.search(r"may (?:build|split) at once", str(error)):  # chat_bounds
                raise SettingError(f"model {self.name!r}: {error}: fix the model's chat_template.jinja (or chat_template "
                                   "in tokenizer_config.json), or ask with `prompt: text`") from None
            roles = ", ".join(dict.fromkeys(m["role"] for m in messages))
            fix = "drop the suite's `system` message, or ask" if any(m["role"] == "system" for m in messages) else "ask"
            raise SettingError(f"the chat template of model {self.name!r} refused the prompt's turns ({roles}): {error}; "
                               f"{fix} with `prompt: text`") from None
        # A template may write any amount of text ("{{ 'x ' * 10000000 }}"): tokenizing megabytes took gigabytes of
        # memory before the prompt was found too long. Far more characters than the model has positions is refused.
        most = sum(len(m["content"]) for m in messages) + CHAT_TEMPLATE_CHARACTERS_PER_POSITION * (self.context_length or 65536)
        if len(text) > most:
            raise SettingError(f"the chat template of model {self.name!r} renders a prompt of {len(text):,} characters, far "
                               f"more than its {self.context_length or 'unknown number of'} positions could hold: fix the "
                               "model's chat_template.jinja (or chat_template in tokenizer_config.json), or ask with "
                               "`prompt: text`")
        if written := [token for token in self._special_tokens_past_the_embedding() if token in text]:
            # tokenizer_config.json names special tokens its vocabulary lacks: transformers adds them past the weights'
            # rows, and every prompt the template wrote was an IndexError deep in torch.
            raise SettingError(f"the chat template of model {self.name!r} writes {', '.join(map(repr, written[:3]))}, special "
                               f"token(s) its tokenizer adds past the {self._embedding_rows()} tokens its weights embed (named "
                               "in tokenizer_config.json, missing from the vocabulary): give the model's own tokenizer files, "
                               "or ask with `prompt: text`")
        return text

    def _embedding_rows(self) -> int | None:
        rows = getattr(self.model.get_input_embeddings(), "num_embeddings", None)
        return rows if isinstance(rows, int) else None

    def _special_tokens_past_the_embedding(self) -> list[str]:
        """The special tokens the tokenizer adds with ids past the weights' embedding rows (none for a sound model;
        the load check refuses plain ones and the bos, eos and pad tokens)."""
        rows = self._embedding_rows()
        added = getattr(self.tokenizer, "added_tokens_decoder", None) or {}
        return [token.content for token_id, token in sorted(added.items()) if rows is not None and token_id >= rows and token.content]

    def _render_chat(self, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """The chat template's rendering of `messages`. A chat template is a program, and one that loops without end
        would hang the run: its first rendering is given CHAT_TEMPLATE_SECONDS (a template that renders one prompt in
        time renders its like again), and the thread of one that does not finish is stopped."""
        if self._chat_template_hangs:
            raise ChatTemplateHangs()
        from factcheck.model.chat_bounds import bound_chat_templates  # jinja2, which chat templates need

        bound_chat_templates()  # a template that builds gigabytes in one operation is refused before it runs
        template = self.chat_template
        if self._chat_template_rendered == template:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
        rendered: dict[str, object] = {}

        def render() -> None:
            try:
                rendered["text"] = self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                                      add_generation_prompt=add_generation_prompt)
            except Exception as error:  # noqa: BLE001 - raised again below, in the caller's thread
                rendered["error"] = error
            except RenderingStopped:  # given up on: the thread ends quietly
                pass

        thread = threading.Thread(target=render, name="factcheck-chat-template", daemon=True)
        thread.start()
        started, resident_before = time.monotonic(), _resident_bytes()
        while thread.is_alive() and (left := CHAT_TEMPLATE_SECONDS - (time.monotonic() - started)) > 0:
            thread.join(min(0.05, left))
            if resident_before is not None and (_resident_bytes() or 0) - resident_before > CHAT_TEMPLATE_GROWTH_BYTES:
                self._chat_template_growth = True
                break
        if thread.is_alive():
            self._chat_template_hangs = True
            _stop_thread(thread)  # left rendering, it would take memory to the end of the process
            raise ChatTemplateHangs()
        if "error" in rendered:
            raise rendered["error"]
        self._chat_template_rendered = template
        return rendered["text"]

    def _hanging_template_error(self) -> SettingError:
        what = (f"took more than {CHAT_TEMPLATE_GROWTH_BYTES >> 20:,} MiB of memory rendering one prompt" if self._chat_template_growth
                else f"did not render one prompt in {CHAT_TEMPLATE_SECONDS:g} s")
        return SettingError(f"the chat template of model {self.name!r} {what} "
                            "(a loop without end?): fix the model's chat_template.jinja (or chat_template in "
                            "tokenizer_config.json), or ask with `prompt: text`")

    @property
    def chat_reply_separator(self) -> str:
        """What the chat template writes between the opening of the assistant's turn and its reply (" " for
        Llama-2's "[/INST] reply", nothing for most), found by rendering one probe conversation."""
        template = self.chat_template
        if template is None:
            return CHAT_SEPARATOR
        known = getattr(self, "_reply_separator", None)
        if known is None or known[0] != template:  # the tokenizer's template may be swapped after loading
            question = [{"role": "user", "content": "Which?"}]
            try:
                prompt_text = self._render_chat(question)
                answered = self._render_chat(question + [{"role": "assistant", "content": REPLY_PROBE}], add_generation_prompt=False)
                separator = reply_separator(prompt_text, answered)
            except Exception:  # noqa: BLE001 - a template that refuses the probe (or hangs): chat_text says so on the real prompt
                separator = CHAT_SEPARATOR
            known = self._reply_separator = (template, separator)
        return known[1]

    @property
    def context_length(self) -> int | None:
        """The positions the model was built for (None where its config does not say)."""
        config = self.model.config.get_text_config() if hasattr(self.model.config, "get_text_config") else self.model.config
        for name in ("max_position_embeddings", "n_positions", "n_ctx"):
            value = getattr(config, name, None)
            if isinstance(value, int) and value > 0:
                return value
        return None

    @property
    def control_token_texts(self) -> tuple[str, ...]:
        """The text of each special token ("<|im_end|>", "<|endoftext|>"): written in a prompt, the tokenizer reads it
        as that one control token, not as text."""
        texts = set(self.tokenizer.all_special_tokens)
        texts |= {token.content for token in getattr(self.tokenizer, "added_tokens_decoder", {}).values()
                  if getattr(token, "special", False)}
        return tuple(sorted(text for text in texts if text))

    @property
    def pad_id(self) -> int:
        """The id prompts are padded with: the tokenizer's pad token, else its end of text, else 0 for a tokenizer that
        sets neither (padding is masked out, so any id serves)."""
        pad = self.tokenizer.pad_token_id
        return pad if isinstance(pad, int) else 0

    @property
    def stop_token_ids(self) -> set[int]:
        """Tokens that end an answer: end of text, and every end-of-turn token the model's generation config names."""
        ids = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id}
        configured = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        # Numbers only, as the fingerprint reads them: transformers takes [2, null], [2, "x"] and [2, [3]] too.
        ids |= {i for i in configured if isinstance(i, int)} if isinstance(configured, (list, tuple)) else {configured}
        return {i for i in ids if isinstance(i, int)}

    @property
    def fingerprint(self) -> str:
        """A stable hash of the weights, the config, the tokenizer and the stop tokens, for cache keys and baselines.
        Computed once, on first use."""
        if self._fingerprint is None:
            self._fingerprint = compute_fingerprint(self.model, self.tokenizer)
        return self._fingerprint

    def state_signature(self) -> tuple[tuple[tuple[float, float], ...], int]:
        """What tells whether the model was changed in place: each weight's and buffer's sum and norm (also the buffers
        no checkpoint keeps: RoPE's inverse frequencies), and how many forward hooks its modules hold and torch holds
        for every module (a test of the project's own may zero weights or leave a hook behind)."""
        tensors = [tensor for _, tensor in [*self.model.named_parameters(), *self.model.named_buffers()] if tensor.is_floating_point()]
        with torch.no_grad():
            sums = tuple((float(tensor.sum(dtype=torch.float64)), float(torch.linalg.vector_norm(tensor, dtype=torch.float64)))
                         for tensor in tensors)
        hooks = sum(len(module._forward_hooks) + len(module._forward_pre_hooks) for module in self.model.modules())
        global_hooks = len(torch.nn.modules.module._global_forward_hooks) + len(torch.nn.modules.module._global_forward_pre_hooks)
        return sums, hooks + global_hooks

    # ---- tokenization ----------------------------------------------------------
    def tokenize(self, texts: Sequence[str]) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
        """Token ids and character offsets of each text, with no special tokens added."""
        try:
            return self._tokenize(texts)
        except BaseException as error:  # a Rust panic is a BaseException: pyo3's PanicException
            if type(error).__name__ != "PanicException":
                raise
            raise ModelLoadError(f"model {self.name!r}: its tokenizer crashed on a prompt ({_first_line(error)[:200]}): "
                                 "its tokenizer.json (a pre_tokenizer's or normalizer's pattern) is broken; replace it "
                                 "with the model's own") from None

    def _tokenize(self, texts: Sequence[str]) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
        """A text that starts with the start token's text (`bos_text`, which every text prompt starts with) is that
        token by id, then the rest as a text of its own, as the model's own use adds the start token: tokenized whole,
        a sentencepiece tokenizer that prefixes only a text's first piece ("first", transformers 5's Llama and every
        llama-vocabulary GGUF) wrote "The" for "▁The", and one that splits special tokens in text (or a start token
        saved as a single word) read "<s>" as characters; every verdict came from a prompt the model never sees."""
        start, start_id = self.bos_text, self._start_token_id
        starts = [bool(start) and text.startswith(start) for text in texts]
        if start_id is None or not any(starts):
            return self._tokenize_plain(texts)
        ids, offsets = self._tokenize_plain([text[len(start):] if started else text for text, started in zip(texts, starts)])
        shift = len(start)
        for index, started in enumerate(starts):
            if started:
                ids[index] = [start_id, *ids[index]]
                offsets[index] = [(0, shift), *((begin + shift, end + shift) for begin, end in offsets[index])]
        return ids, offsets

    @property
    def _start_token_id(self) -> int | None:
        """The id of the start token's text where it is a token of the vocabulary (else None: tokenized as text)."""
        if self._start_id is _NOT_LOOKED_UP:
            start = self.bos_text
            token_id = self.tokenizer.get_vocab().get(start) if start else None  # (the whole vocabulary: looked up once)
            self._start_id = token_id if isinstance(token_id, int) else None
        return self._start_id

    def _tokenize_plain(self, texts: Sequence[str]) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is not None and backend.padding is None and backend.truncation is None:
            # The Rust tokenizer directly: the say-check tokenizes every candidate after every prompt
            # (a thousand per fact), and the Python wrapper's conversions cost more than the encoding.
            encodings = backend.encode_batch(list(texts), add_special_tokens=False)
            return [list(e.ids) for e in encodings], [list(e.offsets) for e in encodings]
        encoding = self.tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True)
        return [list(i) for i in encoding["input_ids"]], [[tuple(o) for o in offs] for offs in encoding["offset_mapping"]]

    def token_text(self, token_id: int) -> str:
        """One token's text (memoised: the know-check asks for the same candidates' first tokens per fact)."""
        text = self._token_texts.get(token_id)
        if text is None:
            text = self._token_texts[token_id] = self.tokenizer.decode([token_id])
        return text

    def encode(self, texts: Sequence[str]) -> Encoded:
        ids, offsets = self.tokenize(texts)
        encoded = left_pad(ids, self.pad_id, self.device)
        encoded.offsets = offsets
        return encoded

    # ---- passes ----------------------------------------------------------------
    def capture_blocks(self, layers: Sequence[int] | None = None):
        """Record the output of the given blocks (all when None) during passes inside the `with`."""
        return capture_blocks(self, range(self.num_layers) if layers is None else layers)

    @torch.no_grad()
    def forward(
        self,
        encoded: Encoded,
        *,
        layers: Sequence[int] | None = (),
        last_logits_only: bool = True,
    ) -> ForwardResult:
        """One pass over a left-padded batch; returns logits and the requested block outputs."""
        with self.capture_blocks(layers) as captured:
            output = self.model(
                input_ids=encoded.input_ids,
                attention_mask=encoded.attention_mask,
                position_ids=encoded.position_ids,
                use_cache=False,
                logits_to_keep=1 if last_logits_only else 0,
            )
        return ForwardResult(logits=output.logits, block_outputs=dict(captured))

    def decode_state(self, state: torch.Tensor) -> torch.Tensor:
        """Logits for a last-block (pre-norm) state, through the model's own final norm and head.

        Applies the final logit soft-capping of models that have one (Gemma 2 and
        Gemma 3 configs may set `final_logit_softcapping`), and the factor by which
        the model's forward scales its logits (`head_scale`), as their forward does.
        """
        logits = self._norm_and_unembed(state)
        scale = self.head_scale
        return logits if scale == 1.0 else logits * scale

    def _norm_and_unembed(self, state: torch.Tensor) -> torch.Tensor:
        logits = self.layout.unembed(self.layout.final_norm(state))
        cap = _final_logit_softcap(self.config)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return logits

    @property
    def head_scale(self) -> float:
        """The factor the model's forward applies to its logits past the final norm and head: Granite divides them
        by `logits_scaling`, Cohere multiplies them by `logit_scale`, MiniCPM divides the state before the head.
        Measured on one probe pass rather than read from config fields, so that no architecture's field is left out;
        a head that no single factor explains is refused (the know-check, lens and tune would read another
        distribution than the model's own)."""
        if self._head_scale is None:
            self._head_scale = self._measured_head_scale()
        return self._head_scale

    @property
    def blocks_return_tuples(self) -> bool:
        """Whether the model's blocks return a tuple whose first item is the state (Falcon, GPT-Neo) rather than the
        state alone; seen on one probe pass."""
        if self._blocks_return_tuples is None:
            seen: list[bool] = []
            handle = self.layout.blocks[0].register_forward_hook(lambda module, args, output: seen.append(isinstance(output, tuple)))
            try:
                self.forward(self.encode([self.bos_text + TOKENIZER_PROBE]))
            finally:
                handle.remove()
            self._blocks_return_tuples = bool(seen and seen[0])
        return self._blocks_return_tuples

    def _measured_head_scale(self) -> float:
        last = self.num_layers - 1
        result = self.forward(self.encode([self.bos_text + TOKENIZER_PROBE]), layers=[last])
        reference = result.logits[:, -1].float().flatten()
        try:
            decoded = self._norm_and_unembed(result.block_outputs[last][:, -1]).float().flatten()
        except RuntimeError as error:  # a projection between the norm and the head (OPT's project_out): shapes differ
            decoded, scale, mismatch = None, math.nan, math.inf
            why = f"they cannot be applied to its last block's output: {str(error).splitlines()[0]}"
        if decoded is not None and decoded.shape == reference.shape:
            scale = float(decoded @ reference) / max(float(decoded @ decoded), 1e-30)
            # Half precision rounds each logit to about 3 significant digits; a head the decoding leaves out differs
            # by far more (a bias, a second norm, another matrix).
            mismatch = float((decoded * scale - reference).norm()) / max(float(reference.norm()), 1e-30)
            why = f"they differ by {mismatch:.1%} after the best single factor, {scale:.4g}"
        elif decoded is not None:
            scale, mismatch, why = math.nan, math.inf, f"they give {decoded.numel()} logits, its forward {reference.numel()}"
        tolerance = 1e-3 if self.dtype == torch.float32 else 3e-2
        if not math.isfinite(scale) or scale <= 0 or not math.isfinite(mismatch) or mismatch > tolerance:
            raise FactcheckError(
                f"model {self.name!r}: its final norm and output head ({type(self.layout.final_norm).__name__}, "
                f"{type(self.layout.unembed).__name__}) do not give the logits its forward gives ({why}), so the "
                "know-check, the lens and tune cannot read its hidden states; run with --factcheck-lre=off, or use a "
                "model whose head is a norm and a linear layer")
        return 1.0 if abs(scale - 1.0) < 1e-3 else scale

    def next_token_logits(self, texts: Sequence[str], batch_size: int = 16) -> torch.Tensor:
        """Logits of the token after each text, computed in batches of `batch_size`."""
        rows = []
        for start in range(0, len(texts), batch_size):
            result = self.forward(self.encode(texts[start : start + batch_size]))
            rows.append(result.logits[:, -1, :])
        return torch.cat(rows)

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "architecture": self.architecture,
            "model_type": getattr(self.config, "model_type", "?"),
            "layers": self.num_layers,
            "hidden_size": self.hidden_size,
            "vocab_size": self.vocab_size,
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": str(self.device),
            "fingerprint": self.fingerprint,
            "load_seconds": round(self.load_seconds, 3),
        }


def _final_logit_softcap(config) -> float | None:
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    cap = getattr(text_config, "final_logit_softcapping", None)
    return float(cap) if cap else None


# Config entries that do not change what the model computes: where it was loaded from, the library version, the
# dtype (a setting of its own), switches for what a forward pass returns, class names that saving adds, and labels
# and initialisation for training.
_CONFIG_KEYS_IGNORED = {"transformers_version", "torch_dtype", "dtype", "use_cache", "output_attentions",
                        "output_hidden_states", "return_dict", "name_or_path", "architectures", "id2label", "label2id",
                        "initializer_range", "problem_type", "chunk_size_feed_forward", "tokenizer_class",
                        "gguf_file"}  # a GGUF file's name (transformers keeps it in quantization_config): its bytes are hashed
# Where transformers versions keep the rotary embedding's settings (4.x: rope_theta and rope_scaling; 5.x:
# rope_parameters): read as one entry, so that the fingerprint does not change with the library.
_ROPE_KEYS = ("rope_theta", "rope_scaling", "rope_parameters")


def config_for_fingerprint(config) -> str:
    """The model's config as canonical JSON: the entries that differ from its class's defaults (so that a version
    of transformers that adds a setting with a default keeps the fingerprint), without those that do not change the
    outputs nor private ones (`_name_or_path`); an activation or a norm's epsilon is part of the model."""
    def kept(value):
        if isinstance(value, dict):
            return {k: kept(v) for k, v in value.items() if not str(k).startswith("_") and k not in _CONFIG_KEYS_IGNORED}
        return value

    entries = kept(config.to_diff_dict())
    rope: dict[str, object] = {}
    for key in _ROPE_KEYS:
        value = entries.pop(key, None)
        rope.update(value if isinstance(value, dict) else {} if value is None else {key: value})
    for name in ("rope_type", "type"):  # 5.x writes the default type out, 4.x leaves it implied
        if rope.get(name) == "default":
            del rope[name]
    if rope:
        entries["rope"] = rope
    return json.dumps(entries, sort_keys=True, ensure_ascii=False, default=str)


def compute_fingerprint(model: nn.Module, tokenizer) -> str:
    """A hash of what decides the model's answers: its weights, its config, its code, its tokenizer, its chat
    template and its stop tokens."""
    digest = hashlib.sha256()
    digest.update(config_for_fingerprint(model.config).encode("utf-8", "surrogatepass"))
    seen: set[int] = set()
    for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
        if tensor.data_ptr() in seen:  # tied weights count once
            continue
        seen.add(tensor.data_ptr())
        if tensor.device.type == "meta":
            continue
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
        # reshape(-1): a 0-dim tensor cannot be viewed as bytes of another element size.
        data = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    digest.update(tokenizer_for_fingerprint(tokenizer).encode("utf-8", "surrogatepass"))
    # The pad token ends answers too (stop_token_ids); split_special_tokens reads "<|im_start|>" as text in every prompt.
    digest.update(json.dumps([tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token,
                              getattr(tokenizer, "split_special_tokens", False)], ensure_ascii=False).encode())
    # The chat template writes every chat prompt; the model's code computes every output (a folder's own code, run
    # with --trust-remote-code, is another model than transformers' class of the same weights).
    digest.update(json.dumps(getattr(tokenizer, "chat_template", None), sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    digest.update(model_code_for_fingerprint(model).encode("utf-8", "surrogatepass"))
    # The generation config's end-of-turn tokens end an answer (LanguageModel.stop_token_ids).
    stops = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(stops, (list, tuple)):
        stops = sorted(stop for stop in stops if isinstance(stop, int))  # as stop_token_ids reads them: [2, null] is [2]
    digest.update(json.dumps(stops if stops is None or isinstance(stops, (int, list)) else None).encode())
    return digest.hexdigest()[:16]


def model_code_for_fingerprint(model: nn.Module) -> str:
    """The model's class by its full name, and the source of its module where the model brought it (remote code)."""
    cls = type(model)
    name = f"{cls.__module__}.{cls.__qualname__}"
    if cls.__module__.startswith("transformers."):
        return name
    import inspect

    try:
        return name + "\n" + inspect.getsource(inspect.getmodule(cls))
    except (OSError, TypeError):  # no source to read: the name alone
        return name


# The parts of a fast tokenizer's state that decide how text becomes tokens and back; its padding and truncation
# settings change as it is used, and are left out.
_TOKENIZER_PARTS = ("added_tokens", "normalizer", "pre_tokenizer", "model", "post_processor", "decoder")


def tokenizer_for_fingerprint(tokenizer) -> str:
    """The tokenizer as canonical JSON: its vocabulary, merges, added tokens and pre- and post-processing (a slow
    tokenizer: its vocabulary)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return json.dumps(sorted(tokenizer.get_vocab().items()), ensure_ascii=False)
    state = json.loads(backend.to_str())
    return json.dumps({part: state.get(part) for part in _TOKENIZER_PARTS}, sort_keys=True, ensure_ascii=False)


def library_versions() -> str:
    """The versions of the libraries that compute a model's outputs (a cache of derived numbers keys on them)."""
    import transformers

    return f"torch {torch.__version__}, transformers {transformers.__version__}"


def _backend_available(kind: str) -> bool:
    """Whether this torch has a usable `kind` device: its backend module exists (torch.xpu, torch.hpu, ...; mps lives
    under torch.backends) and says so."""
    backend = torch.backends.mps if kind == "mps" else getattr(torch, kind, None)
    is_available = getattr(backend, "is_available", None)
    try:
        return bool(is_available()) if callable(is_available) else False
    except Exception:  # a backend whose runtime is missing raises instead of answering
        return False


def require_device(device: str) -> None:
    """SettingError unless this torch can run on `device` ("cuda:1" on a CPU-only build would fail every fact)."""
    if not re.fullmatch(DEVICE_PATTERN, device):
        raise SettingError(f"device {device!r} is not one factcheck runs on: give cpu, cuda, cuda:1, mps, xpu, hpu, npu "
                           "or mlu, or auto (accelerate spreads the model over the devices)")
    kind = device.split(":", 1)[0]
    if kind not in ("cpu", "auto") and not _backend_available(kind):
        raise SettingError(f"device {device!r} is not available to this torch ({torch.__version__}: no {kind.upper()} "
                           "device or no build for it): run on cpu (--factcheck-device cpu, or --device cpu), or auto to take what "
                           "there is")
    if kind == "cuda" and ":" in device and device.split(":", 1)[1].isdigit() and int(device.split(":", 1)[1]) >= torch.cuda.device_count():
        raise SettingError(f"device {device!r} is not available: this machine has {torch.cuda.device_count()} CUDA device(s)")


def load_model(
    spec: str | Path | None = None,
    *,
    dtype: str = "float32",
    device: str = "cpu",
    device_map: str | None = None,
    trust_remote_code: bool = False,
) -> LanguageModel:
    """Load a causal LM: None or "smollm2" (the embedded default), a GGUF file, a local folder or a hub id.

    device="auto" (or device_map="auto") lets accelerate spread the blocks over
    every visible GPU, then the CPU, for models too large for one device.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from factcheck.model import default_model
    from factcheck.model.allocator import keep_freed_memory

    keep_freed_memory()
    started = time.perf_counter()
    require_device(device)
    if device == "auto" and not device_map:
        device_map = "auto"
    torch_dtype = _resolve_dtype(dtype)
    name = str(spec) if spec else default_model.DEFAULT_MODEL_NAME
    if spec:
        _refuse_a_name_too_long(str(spec))
    source_kwargs: dict[str, object] = {}
    gguf_source: Path | None = None
    if spec is None or str(spec).lower() in (default_model.DEFAULT_MODEL_NAME, "default"):
        if spec is not None and Path(spec).exists():
            warn(f"factcheck: {str(spec)!r} names the embedded default model, not the {str(spec)!r} here; give it as "
                 f"./{spec} to load that one")
        location: str | Path = default_model.converted_folder()
        name = default_model.DEFAULT_MODEL_NAME
    elif str(spec).lower().endswith(".gguf"):  # "MODEL.GGUF" too
        path = _expanded(str(spec))
        if path.exists() and not path.is_file():  # a FIFO would block the read, a folder is no GGUF file
            raise ModelLoadError(f"model {spec!r} is {file_kind(path.stat().st_mode)}, not a regular file. {EXPECTED_MODEL}")
        if not path.is_file():
            raise ModelLoadError(f"model {str(spec)!r}: no such file. {EXPECTED_MODEL}")
        gguf_source = path
        location, source_kwargs = path.parent, {"gguf_file": path.name}
    else:
        location = spec
        check_model_location(str(spec), trust_remote_code)
    hub_unreachable = _names_a_hub_id(str(location)) and not hub_reachable()
    common = {"trust_remote_code": trust_remote_code, **source_kwargs}
    if hub_unreachable:  # the local hub cache at once, not a minute of transformers' retries
        common["local_files_only"] = True
    model_kwargs: dict[str, object] = dict(common)
    if not source_kwargs:  # weights from safetensors only: transformers would unpickle a pytorch_model.bin it finds
        model_kwargs["use_safetensors"] = True
    if torch_dtype is not None:
        model_kwargs["dtype"] = torch_dtype
    if device_map:
        model_kwargs["device_map"] = device_map
    a_local_folder = name != default_model.DEFAULT_MODEL_NAME and not source_kwargs and Path(location).is_dir()
    config_name = "GGUF file's metadata" if source_kwargs else "config.json"

    def read(folder):
        with no_progress_bars():  # transformers' "Loading weights" bar on every run says nothing a user needs
            if a_local_folder:
                _refuse_a_config_no_model_can_be_built_from(name, folder, common)
            try:
                tokenizer = AutoTokenizer.from_pretrained(folder, **common)
            except Exception as error:  # noqa: BLE001 - tokenizers' own errors for a damaged file
                if not (a_local_folder or gguf_source) or isinstance(error, ModelLoadError):
                    raise
                # Said here, or the message below would blame the weights for a damaged tokenizer file.
                if gguf_source and (unsupported := _GGUF_ARCHITECTURE_UNSUPPORTED.search(str(error))):
                    raise ModelLoadError(_unsupported_gguf_architecture(name, unsupported.group(1))) from error
                if gguf_source and _raised_building_a_config(error):  # the tokenizer reads the config first
                    raise ModelLoadError(f"cannot load model {name!r}: its GGUF metadata gives a model config transformers "
                                         f"refuses ({_first_line(error.__cause__ or error)[:300]}); the file is damaged or was edited: "
                                         "download or convert it again") from error
                if gguf_source:
                    raise ModelLoadError(f"cannot load model {name!r}: its tokenizer cannot be built from the GGUF file's "
                                         f"metadata (tokenizer.ggml.*: {_first_line(error)[:200]}); the file is damaged "
                                         "or was edited, or its tokenizer is of a kind transformers cannot build: "
                                         "download or convert it again") from error
                raise ModelLoadError(f"cannot load model {name!r}: its tokenizer cannot be loaded ({_first_line(error)}); "
                                     "check its tokenizer files (tokenizer.json, tokenizer_config.json: replace them with "
                                     "the model's own) and what they need (sentencepiece, tiktoken)") from error
            with held_load_report() as load_report:
                try:
                    model, loading = AutoModelForCausalLM.from_pretrained(folder, output_loading_info=True, **model_kwargs)
                except RuntimeError as error:
                    if mismatched := load_report.mismatched_weights():
                        # transformers' own message points at the report held back above: name the weights here.
                        fix = (f"give the {config_name} these weights were saved with (its sizes: hidden_size, "
                               "num_attention_heads, num_key_value_heads, vocab_size, ...)") if not gguf_source else (
                               "transformers' GGUF loader builds this architecture with sizes the file's tensors do not "
                               "have (a layout or a metadata key it does not read): give the model as a folder (config.json "
                               "and safetensors weights) instead")
                        raise ModelLoadError(f"cannot load model {name!r}: weights whose shapes do not fit its {config_name}: "
                                             f"{'; '.join(mismatched[:3])}{' ...' if len(mismatched) > 3 else ''}; {fix}") from error
                    raise
        refuse_missing_weights(name, loading.get("missing_keys") or (), config_name)
        _refuse_weights_the_config_leaves_out(name, model, loading.get("unexpected_keys") or ())
        refuse_a_tokenizer_past_the_embedding(name, tokenizer, model)
        load_report.release()  # only for a model that loads: a refused one's message says what its table would
        return tokenizer, model

    try:
        if name == default_model.DEFAULT_MODEL_NAME:
            tokenizer, model = default_model.loaded_or_rebuilt(location, read)
        elif gguf_source is not None:
            # One parse of the file for factcheck's check and for transformers' config, weights and tokenizer (4 s
            # each on the default model's file, mostly its 49k-token vocabulary).
            with default_model.gguf_parsed_once():
                facts = _checked_gguf_metadata(str(spec), gguf_source)
                if facts is not None:
                    model_kwargs["config"] = _gguf_config(str(spec), location, common, facts)
                with _tensors_the_gguf_loader_leaves_unread() as unread:
                    tokenizer, model = read(location)
                _refuse_gguf_tensors_left_unread(str(spec), unread)
        else:
            tokenizer, model = read(location)
    except FactcheckError:  # said whole already (a damaged default model in a read-only cache)
        raise
    except ValueError as error:  # transformers' word for a folder or file that is not a model it can load
        if gguf_source and (unsupported := _GGUF_ARCHITECTURE_UNSUPPORTED.search(str(error))):
            raise ModelLoadError(_unsupported_gguf_architecture(name, unsupported.group(1))) from error
        raise ModelLoadError(f"cannot load model {name!r}: {error}") from error
    except OSError as error:  # a hub id it could not fetch (no network, no such model), or a file it could not read
        if hub_unreachable:
            raise ModelLoadError(f"cannot load model {name!r}: the hub ({_hub_endpoint()}) cannot be reached from here "
                                 "and the model is not in the local hub cache (HF_HOME). Download it where there is "
                                 "network (`hf download OWNER/NAME`), or give its folder\n"
                                 f"{EXPECTED_MODEL}") from error
        raise ModelLoadError(f"cannot load model {name!r}: {error}\n{EXPECTED_MODEL}") from error
    except ImportError as error:  # a quantization method's library (bitsandbytes, gptq), a tokenizer's (sentencepiece)
        raise ModelLoadError(f"cannot load model {name!r}: it needs a library that is not installed ({_first_line(error)[:200]}); "
                             "install it, or, for quantized weights, use a model without config.json's "
                             "quantization_config") from error
    except Exception as error:  # noqa: BLE001 - safetensors', gguf's and torch's own errors for damaged weights
        raise ModelLoadError(f"cannot load model {name!r}: its weights are damaged (a truncated download?) or do not "
                             f"fit its {config_name} ({_first_line(error)}); download or convert it again") from error
    if not device_map:
        model = model.to(device=device, dtype=torch_dtype) if torch_dtype else model.to(device)
    loaded = LanguageModel(model, tokenizer, name=name, load_seconds=time.perf_counter() - started)
    # A tokenizer that crashes on plain text, or turns it into nothing, is refused here, once per run.
    [probe_ids], _ = loaded.tokenize([TOKENIZER_PROBE])
    unknown = getattr(tokenizer, "unk_token_id", None)
    if not probe_ids or all(token == unknown for token in probe_ids):
        # An empty vocabulary: every prompt would be no tokens, and each fact would fail blaming its subject.
        raise ModelLoadError(f"model {name!r}: its tokenizer turns plain text ({TOKENIZER_PROBE!r}) into "
                             f"{'no tokens' if not probe_ids else 'unknown tokens only'} (an empty vocabulary?): replace "
                             "its tokenizer files with the model's own")
    from factcheck.model.packing import refuse_models_packing_changes  # packing builds on this module

    refuse_models_packing_changes(loaded)
    loaded.load_seconds = time.perf_counter() - started  # the checks are part of loading
    return loaded


TOKENIZER_PROBE = "The capital city of France is Paris."


def _resident_bytes() -> int | None:
    """The process's resident memory (Linux's /proc; None where it cannot be read)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class RenderingStopped(BaseException):
    """Raised inside a chat template's rendering that was given up on (not an Exception: the template's own error
    handling must not catch it)."""


def _stop_thread(thread: threading.Thread) -> None:
    """Raise RenderingStopped in `thread` at its next Python instruction (a template's loop runs Python code), and
    wait a moment for it to end."""
    import ctypes

    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(RenderingStopped))
    thread.join(1.0)


_INTEGER_DTYPES = frozenset({"BOOL", "U8", "I8", "U16", "I16", "U32", "I32", "U64", "I64"})


def _refuse_weight_matrices_stored_as_integers(spec: str, folder: Path, files: Sequence[str], config: object) -> None:
    """Weight matrices (2 or more dimensions: a linear layer's `.weight`, a Mixture-of-Experts model's fused
    `experts.gate_up_proj`) stored as integers or booleans, with no `quantization_config` to read them, are a
    quantized export whose scales were left out: transformers casts the integers to floats and the model computes
    garbage under its own fingerprint. Read from the headers of the files transformers reads (`files`); a 1-D norm of
    ones stored as int8 is harmless, and a buffer (an old attention mask `.bias`, `position_ids`) is no weight."""
    from safetensors import safe_open

    if not isinstance(config, dict) or config.get("quantization_config"):
        return
    for name in files:
        try:
            with safe_open(str(folder / name), framework="pt") as weights:
                for key in weights.keys():
                    part = weights.get_slice(key)
                    if (part.get_dtype() in _INTEGER_DTYPES and len(part.get_shape()) >= 2
                            and not key.endswith(_BUFFERS_STORED_AS_INTEGERS)):
                        raise ModelLoadError(
                            f"cannot load model {spec!r}: {name} stores the weight matrix {key!r} as "
                            f"{part.get_dtype()} and config.json has no quantization_config: a quantized export whose "
                            "scales are missing? Export the model's weights as float32, bfloat16 or float16 "
                            "(save_pretrained of the float model), or give its quantization_config")
        except ModelLoadError:
            raise
        except Exception:  # noqa: BLE001 - a damaged file is said by the load that follows, naming it
            continue


_BUFFERS_STORED_AS_INTEGERS = (".bias", "position_ids", "_mask", "masked_bias")


def _refuse_a_config_no_model_can_be_built_from(name: str, folder, common: dict[str, object]) -> None:
    """A config.json whose fields transformers rejects (a dtype torch has not, heads that do not divide the width, a
    rope setting missing a key, an unknown activation) failed in the tokenizer's load or the weights', and was blamed
    on them: the model is built from the config alone first, on the meta device (no memory), and a failure names
    config.json."""
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    try:
        config = AutoConfig.from_pretrained(folder, **common)
        if type(config) not in MODEL_FOR_CAUSAL_LM_MAPPING and "AutoModelForCausalLM" not in (getattr(config, "auto_map", None) or {}):
            # A vision-language model (Qwen2.5-VL, Mistral 3) has a sound config that no causal LM class takes: it was
            # said as a damaged config.json.
            raise ModelLoadError(
                f"cannot load model {name!r}: transformers has no causal language model for its config "
                f"({type(config).__name__}, model_type {getattr(config, 'model_type', None)!r}): "
                "it is a model of another kind (a vision-language or encoder model, say) that factcheck cannot load as a "
                "text model; check a causal LM, or the text model of this one saved on its own")
        with torch.device("meta"):
            AutoModelForCausalLM.from_config(config, trust_remote_code=common.get("trust_remote_code", False))
    except ModelLoadError:
        raise
    except Exception as error:  # noqa: BLE001 - transformers' and torch's own errors for a config they cannot use
        raise ModelLoadError(f"cannot load model {name!r}: its config.json cannot be used ({_first_line(error.__cause__ or error)}); fix the "
                             "field it names, or put the model's own config.json beside its weights") from error
    if problem := _config_number_that_breaks_the_model(config):
        raise ModelLoadError(f"cannot load model {name!r}: its config.json's {problem}; fix that field, or put the model's "
                             "own config.json beside its weights")


def _config_number_that_breaks_the_model(config) -> str | None:
    """A field transformers accepts whose value breaks every pass: a RoPE base or scaling factor that is no positive
    number, a norm's epsilon below 0, past 1 or not finite, a scale of the embeddings, the attention or the logits
    that is no positive number (every score NaN, blamed on the weights, or the model blind to its prompt: every fact
    generated the same text), a sliding window of no token (the model saw none of its prompt)."""
    def bad(value, least: float, strict: bool) -> bool:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        return not math.isfinite(value) or (value <= least if strict else value < least)

    rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    ropes = rope.values() if isinstance(rope, dict) and all(isinstance(value, dict) for value in rope.values()) and rope else [rope]
    for settings in ropes:  # one per attention type in Gemma 3's config
        if isinstance(settings, dict):
            for key in ("rope_theta", "factor", "attention_factor"):
                if bad(settings.get(key), 0, strict=True):
                    return f"{key} is {settings[key]}, and it must be a finite positive number"
            for key in ("short_factor", "long_factor"):  # LongRoPE's per-frequency factors
                if isinstance(settings.get(key), list) and any(bad(factor, 0, strict=True) for factor in settings[key]):
                    return f"{key} holds {next(f for f in settings[key] if bad(f, 0, strict=True))}, and each factor must be a finite positive number"
    if bad(getattr(config, "rope_theta", None), 0, strict=True):
        return f"rope_theta is {config.rope_theta}, and it must be a finite positive number"
    for key in ("rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon", "norm_eps"):
        epsilon = getattr(config, key, None)
        if bad(epsilon, 0, strict=False) or (isinstance(epsilon, (int, float)) and epsilon > 1):
            return f"{key} is {epsilon}, and a norm's epsilon must be a finite number from 0 to 1 (one past it drowns the states)"
    # Granite's and Cohere's scales and OLMo's clip of queries, keys and values: 0 blinds the model to its prompt, a
    # negative one turns its ranking around (OLMo-1.7 ships a clip of 8).
    for key in ("embedding_multiplier", "attention_multiplier", "residual_multiplier", "logits_scaling", "logit_scale", "clip_qkv"):
        if bad(getattr(config, key, None), 0, strict=True):
            return f"{key} is {getattr(config, key)}, and it must be a finite positive number"
    for key in ("final_logit_softcapping", "attn_logit_softcapping"):
        if bad(getattr(config, key, None), -math.inf, strict=False):
            return f"{key} is {getattr(config, key)}, and it must be a finite number (or null)"
    # Only a window a layer uses: Qwen2-MoE's config writes 0 for one turned off (`use_sliding_window: false`).
    window = getattr(config, "sliding_window", None)
    layer_types = getattr(config, "layer_types", None)
    used = getattr(config, "use_sliding_window", True) is not False and (
        not isinstance(layer_types, (list, tuple)) or "sliding_attention" in layer_types)
    if used and isinstance(window, int) and not isinstance(window, bool) and window < 1:
        return f"sliding_window is {window}, and a window must hold at least one token (null turns it off)"
    return None


def _raised_building_a_config(error: BaseException) -> bool:
    """Whether transformers raised `error` while building or checking a model config (a RoPE dimension it refuses)."""
    frames = traceback.extract_tb(error.__traceback__)
    return any(re.search(r"configuration_|huggingface_hub[/\\]dataclasses", frame.filename) for frame in frames)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:300]}" if text else type(error).__name__


def refuse_a_tokenizer_past_the_embedding(name: str, tokenizer, model) -> None:
    """A tokenizer whose token ids run past the weights' embedding rows loads, then fails every prompt with an
    IndexError: refused at load (the tokenizer and config.json belong to another model)."""
    rows = getattr(model.get_input_embeddings(), "num_embeddings", None)
    # Its vocabulary, not its added tokens: a special token the config names and the vocabulary lacks is added past
    # the rows, and is refused where a chat template writes it (`LanguageModel.chat_text`).
    vocabulary = getattr(tokenizer, "vocab_size", None)
    if isinstance(rows, int) and isinstance(vocabulary, int) and vocabulary > rows:
        raise ModelLoadError(f"model {name!r}: its tokenizer's vocabulary has {vocabulary} tokens and its weights embed "
                             f"{rows} (config.json's vocab_size {getattr(model.config, 'vocab_size', '?')}): the "
                             "tokenizer files belong to another model; put the model's own tokenizer beside its weights")
    # An added token that is no special token is matched in plain text ("capital city"): every prompt holding its text
    # would be an IndexError.
    past_rows = sorted((token_id, token.content) for token_id, token in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items()
                       if isinstance(rows, int) and token_id >= rows and not token.special)
    if past_rows:
        token_id, text = past_rows[0]
        raise ModelLoadError(f"model {name!r}: its tokenizer adds the token {text!r} with id {token_id}, past the {rows} "
                             "tokens its weights embed, and any prompt holding that text would fail; remove it from "
                             "tokenizer.json's added_tokens (or tokenizer_config.json), or give the model's own tokenizer")
    # The special tokens every prompt or batch uses must be embedded ("<s>" named as bos_token by a config whose
    # vocabulary lacks it is added past the rows: each prompt was an IndexError).
    for role in ("bos_token", "eos_token", "pad_token"):
        token_id = getattr(tokenizer, f"{role}_id", None)
        if isinstance(rows, int) and isinstance(token_id, int) and token_id >= rows:
            raise ModelLoadError(f"model {name!r}: its {role} {getattr(tokenizer, role)!r} is not in its vocabulary (id "
                                 f"{token_id}, past the {rows} tokens its weights embed), and every prompt would use it; "
                                 f"set {role} in tokenizer_config.json to a token of the vocabulary, or remove it")


def _refuse_weights_the_config_leaves_out(name: str, model, unexpected) -> None:
    """Weights of blocks past the config's count, or of parameters the config turns off in a module the model has
    (biases under `attention_bias: false`), or of a module its blocks have not (Qwen3's `q_norm` under a Llama config),
    are dropped by transformers with a log line: the model would run without
    them, under a fingerprint of its own. Refused, as weights missing for the config are."""
    modules = dict(model.named_modules())
    dropped = []
    for key in unexpected:
        owner, _, attribute = key.rpartition(".")
        module = modules.get(owner)
        if module is not None and attribute not in module._buffers and getattr(module, attribute, None) is None:
            dropped.append(key)
        elif module is None and attribute not in _DERIVED_BUFFERS and _in_a_block_the_model_has(owner, modules):
            dropped.append(key)  # a module the architecture has not, inside a block it has (Qwen3's q_norm under Llama)
    if dropped:
        raise ModelLoadError(f"model {name!r}: its weights hold {len(dropped)} parameter(s) that its config.json leaves out "
                             f"({', '.join(sorted(dropped)[:3])}{' ...' if len(dropped) > 3 else ''}), which transformers "
                             "would drop; check that config.json belongs to these weights (its architectures and model_type, "
                             "attention_bias, mlp_bias, tie_word_embeddings)")
    asked = next((value for key in _BLOCK_COUNT_KEYS if isinstance(value := getattr(model.config, key, None), int)), None)
    # Multi-token-prediction blocks stored after the model's own (DeepSeek-V3, GLM-4.5: `num_nextn_predict_layers`) take
    # no part in predicting the next token, and transformers drops them: they were blamed on the config.
    predicting_ahead = getattr(model.config, "num_nextn_predict_layers", None)
    predicting_ahead = predicting_ahead if isinstance(predicting_ahead, int) and predicting_ahead > 0 else 0
    past = sorted({int(match.group(1)) for key in unexpected if (match := _BLOCK_INDEX.search(key))}
                  - set(range((asked or 0) + predicting_ahead)))
    if asked is not None and past:
        raise ModelLoadError(f"model {name!r}: its weights hold blocks up to {past[-1]} and its config asks for {asked}: the "
                             "config belongs to another model (num_hidden_layers); put the model's own config beside "
                             "its weights")


# Buffers that old checkpoints saved and newer transformers compute (rotary frequencies): dropping them loses nothing.
_DERIVED_BUFFERS = frozenset({"inv_freq", "masked_bias"})


def _in_a_block_the_model_has(owner: str, modules: dict) -> bool:
    """Whether the nearest module above `owner` that the model has is one of its numbered blocks or inside one (a
    whole block past the config's count is told apart below)."""
    while owner and owner not in modules:
        owner = owner.rpartition(".")[0]
    return bool(owner) and _BLOCK_INDEX.search(owner + ".") is not None


# A GGUF header's counts past any real model's (a 262k-token vocabulary, a few thousand tensors): gguf's reader builds
# an object per element, and a 16 MB file of two million empty token strings took 3.5 GB and 88 s before any message.
GGUF_LARGEST_ARRAY = 2**19  # Gemma 3 has 262,144 tokens, Llama 3 280,147 merges
GGUF_MOST_VALUES = 2**21  # in all arrays together: tokens, scores, token types and merges
GGUF_MOST_TENSORS = 2**16
GGUF_MOST_KEYS = 2**14
# A string value past a chat template's size (tens of KB): transformers reads strings a byte at a time, three times (a
# 30 MB one took 40 s, a 300 MB one 13 GB).
GGUF_LONGEST_STRING = 2**24
_GGUF_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # by GGUFValueType
_GGUF_STRING, _GGUF_ARRAY = 8, 9


def _gguf_big_endian(path: Path) -> bool:
    """Whether the file's format version reads as 1 to 3 only in big-endian order (gguf-convert-endian writes such)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError:
        return False
    if len(head) < 8 or head[:4] != b"GGUF":
        return False
    return int.from_bytes(head[4:], "little") > 3 and 1 <= int.from_bytes(head[4:], "big") <= 3


def _gguf_header_too_large(path: Path) -> str | None:
    """What in a GGUF file's header counts past any real model's, read by seeking over it (nothing is built); None
    where nothing does, or where the header cannot be read this way (gguf's reader says what is wrong with it)."""
    import struct

    def number(handle, form: str) -> int:
        data = handle.read(struct.calcsize(form))
        if len(data) != struct.calcsize(form):
            raise EOFError
        return struct.unpack(order + form, data)[0]

    values = 0

    def skip_value(handle, kind: int, depth: int = 0) -> str | None:
        nonlocal values
        if kind in _GGUF_SCALAR_SIZES:
            handle.seek(_GGUF_SCALAR_SIZES[kind], os.SEEK_CUR)
        elif kind == _GGUF_STRING:
            length = number(handle, "Q")
            if length > GGUF_LONGEST_STRING:
                return f"a string of {length:,} bytes"
            handle.seek(length, os.SEEK_CUR)
        elif kind == _GGUF_ARRAY:
            if depth >= 2:
                return f"arrays nested {depth + 1} deep"
            element, count = number(handle, "I"), number(handle, "Q")
            values += count
            if count > GGUF_LARGEST_ARRAY:
                return f"an array of {count:,} values"
            if values > GGUF_MOST_VALUES:
                return f"arrays of {values:,} values in all"
            if element in _GGUF_SCALAR_SIZES:
                handle.seek(count * _GGUF_SCALAR_SIZES[element], os.SEEK_CUR)
            else:
                for _ in range(count):
                    if (problem := skip_value(handle, element, depth + 1)) is not None:
                        return problem
        else:
            raise ValueError(kind)
        return None

    try:
        with path.open("rb") as handle:
            if handle.read(4) != b"GGUF":
                return None
            order = "<"
            if number(handle, "I") > 0xFFFF:  # a version read in the other byte order: a big-endian file
                order = ">"
            tensors, keys = number(handle, "Q"), number(handle, "Q")
            if tensors > GGUF_MOST_TENSORS or keys > GGUF_MOST_KEYS:
                return f"{tensors:,} tensors and {keys:,} metadata keys"
            for _ in range(keys):
                handle.seek(number(handle, "Q"), os.SEEK_CUR)  # the key
                if (problem := skip_value(handle, number(handle, "I"))) is not None:
                    return problem
    except (OSError, EOFError, ValueError, struct.error, OverflowError):
        return None
    return None


def _checked_gguf_metadata(spec: str, path: Path) -> GgufFacts | None:
    """Refuses a GGUF file whose `<arch>.block_count` is not the number of blocks its tensors hold: more would take
    transformers minutes to hours (its name table grows with the square of the count) and start the missing blocks
    at random; fewer would drop blocks silently. A special token id past its vocabulary failed in the tokenizer's
    build, blamed on the weights. Read from the header (memory-mapped) before loading. Returns what the metadata
    says of the model's shape, for `fit_config_to_the_gguf_file` (None where the header is unusual)."""
    from gguf import GGUFReader

    if _gguf_big_endian(path):
        raise ModelLoadError(f"model {spec!r}: it is a big-endian GGUF file, which transformers' GGUF reader cannot read (the "
                             "file is not damaged): convert it to little-endian (`gguf-convert-endian FILE little`, from the "
                             "gguf package), or give the model as a folder")
    if too_large := _gguf_header_too_large(path):
        raise ModelLoadError(f"model {spec!r}: its GGUF header holds {too_large}, far past any real model's (reading it "
                             "would take gigabytes and minutes); the file is damaged or was made to be so: download or "
                             "convert it again")
    try:
        reader = GGUFReader(path)
    except Exception as error:  # noqa: BLE001 - gguf's own errors for a header it cannot parse
        if "version" in str(error).lower():
            return  # a format version this gguf cannot read: loading says so
        raise ModelLoadError(f"model {spec!r}: its GGUF header cannot be read ({_first_line(error)[:150]}); the file is "
                             "no GGUF file, or is damaged (a truncated or corrupted download): download or convert it again") from None
    if (split := reader.fields.get("split.count")) is not None and int(split.parts[split.data[0]][0]) > 1:
        part = reader.fields.get("split.no")
        number = int(part.parts[part.data[0]][0]) + 1 if part is not None else "?"
        # Its blocks are spread over the parts, so every check below would call it damaged.
        raise ModelLoadError(f"model {spec!r}: it is part {number} of {int(split.parts[split.data[0]][0])} of a split GGUF "
                             "model (llama.cpp's gguf-split), which transformers cannot load: merge the parts into one "
                             "file (`llama-gguf-split --merge FIRST_PART.gguf MERGED.gguf`) and give that file")
    try:
        field = reader.fields["general.architecture"]
        architecture = bytes(field.parts[field.data[0]]).decode("utf-8")
        field = reader.fields[f"{architecture}.block_count"]
        asked = int(field.parts[field.data[0]][0])
        blocks = {int(match.group(1)) for tensor in reader.tensors if (match := re.match(r"blk\.(\d+)\.", tensor.name))}
        tokens = len(reader.fields["tokenizer.ggml.tokens"].data) if "tokenizer.ggml.tokens" in reader.fields else None
        special = {key: int(field.parts[field.data[0]][0]) for key in _GGUF_SPECIAL_TOKEN_KEYS if (field := reader.fields.get(key))}
        # Arrays read token by token beside the vocabulary: transformers pairs them only as far as the shorter goes,
        # so a short token_type silently made 14 of the default model's 17 control tokens plain text.
        per_token = {key: len(reader.fields[key].data) for key in _GGUF_PER_TOKEN_KEYS if key in reader.fields}
        merges_problem = _gguf_merges_problem(reader)
        misplaced = _gguf_tensor_out_of_place(reader)
        number_problem = _gguf_number_problem(reader, architecture)
        facts = _gguf_facts(reader, architecture, asked)
    except Exception:  # noqa: BLE001 - a damaged or unusual header: loading says what is wrong with it
        return None
    held = len(blocks)  # counted: tensors of blocks 0 and 2999 hold no 3,000 blocks
    if held and (asked != held or max(blocks) + 1 != held):
        raise ModelLoadError(f"model {spec!r}: its metadata {architecture}.block_count is {asked}, and its tensors hold "
                             f"{held} blocks{_numbered_up_to(blocks)}; the file is damaged or was edited: download or "
                             "convert it again")
    if number_problem:
        raise ModelLoadError(f"model {spec!r}: {number_problem}")
    if misplaced:
        raise ModelLoadError(f"model {spec!r}: {misplaced} (llama.cpp refuses such a file: a tensor would be read from another's "
                             "bytes, or with another type's block size); the file is damaged or was edited: download or "
                             "convert it again")
    if merges_problem:
        raise ModelLoadError(f"model {spec!r}: its metadata tokenizer.ggml.merges {merges_problem}; the file is damaged or "
                             "was edited: download or convert it again")
    for key, count in per_token.items():
        if tokens is not None and count != tokens:
            raise ModelLoadError(f"model {spec!r}: its metadata {key} holds {count} values, and its vocabulary "
                                 f"(tokenizer.ggml.tokens) {tokens} tokens: one for each token; the file is damaged or "
                                 "was edited: download or convert it again")
    for key, token_id in special.items():
        if tokens is not None and not 0 <= token_id < tokens:
            raise ModelLoadError(f"model {spec!r}: its metadata {key} is {token_id}, and its vocabulary "
                                 f"(tokenizer.ggml.tokens) holds {tokens} tokens; the file is damaged or was edited: "
                                 "download or convert it again")
    return facts


# llama.cpp scales Gemma 2's and Gemma 3's queries by 1/sqrt(width / heads) in their 27B models (told apart by their
# block counts), else by 1/sqrt(head size); GGUF has no key for it, and transformers' loader keeps the config's
# default of 256, another scale for Gemma-2-27B (144) and Gemma-3-27B (168).
_GEMMA_27B_BLOCKS = {"gemma2": 46, "gemma3": 62}
_GGUF_NUMBERS = ("embedding_length", "attention.head_count", "attention.head_count_kv", "attention.key_length",
                 "rope.dimension_count", "rope.freq_base", "attention.layer_norm_rms_epsilon", "attention.layer_norm_epsilon",
                 "expert_feed_forward_length", "expert_shared_feed_forward_length", "attn_logit_softcapping",
                 "final_logit_softcapping")
# Fields transformers' GGUF loader leaves out for some architectures, set where the config has them: Qwen2-MoE's
# expert sizes, Gemma 2's soft caps (key -> field).
_GGUF_FIELDS_LEFT_OUT = {"expert_feed_forward_length": "moe_intermediate_size",
                         "expert_shared_feed_forward_length": "shared_expert_intermediate_size",
                         "attn_logit_softcapping": "attn_logit_softcapping", "final_logit_softcapping": "final_logit_softcapping"}


@dataclass
class GgufFacts:
    """What a GGUF file's metadata says of its model's shape, as llama.cpp reads it."""

    architecture: str
    blocks: int
    numbers: dict[str, float]  # by key without the architecture: "embedding_length", "rope.freq_base", ...
    rope_factor_tensors: list[str]  # LongRoPE's per-frequency factors, which llama.cpp keeps as tensors


def _gguf_facts(reader, architecture: str, blocks: int) -> GgufFacts:
    numbers = {}
    for key in _GGUF_NUMBERS:
        field = reader.fields.get(f"{architecture}.{key}")
        if field is not None and len(field.data) == 1:  # per-layer arrays (OpenELM's head counts) are left alone
            value = field.parts[field.data[0]][0].item()
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                numbers[key] = value
    factors = sorted(tensor.name for tensor in reader.tensors if tensor.name.startswith("rope_factors"))
    return GgufFacts(architecture, blocks, numbers, factors)


def fit_config_to_the_gguf_file(spec: str, config, facts: GgufFacts) -> None:
    """Give the config transformers built from a GGUF file what its loader leaves out of the metadata, as llama.cpp
    reads it, and refuse a file whose model it would build otherwise. Left out for some architectures: the RoPE base
    (StarCoder2's 1e5 to 1e6 ran as 10,000), a partial rotary (Phi-4-mini rotates 96 of 128 values per head), the head
    size (Qwen3), Gemma's query scale and Gemma 2's soft caps, Qwen2-MoE's expert sizes; LongRoPE's factor tensors
    are dropped whole. What is left is checked against the metadata, so that no other field of another architecture
    differs without a word."""
    numbers = facts.numbers
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    rope = getattr(text, "rope_parameters", None)
    heads = numbers.get("attention.head_count")
    width = numbers.get("embedding_length")
    head_size = numbers.get("attention.key_length") or (width // heads if width and heads else None)
    if facts.rope_factor_tensors:
        raise ModelLoadError(f"model {spec!r}: its GGUF file holds LongRoPE factors ({', '.join(facts.rope_factor_tensors)}), "
                             "which transformers' GGUF loader drops: the model would run without them, as another model. Give "
                             "the model as a folder (config.json with its rope_scaling, and safetensors weights) instead")
    if numbers.get("attention.key_length") and hasattr(text, "head_dim") and facts.architecture not in _KEY_LENGTH_IS_ANOTHER_FIELD:
        text.head_dim = int(numbers["attention.key_length"])
    for key, field_name in _GGUF_FIELDS_LEFT_OUT.items():
        if numbers.get(key) and hasattr(text, field_name):
            setattr(text, field_name, type(getattr(text, field_name) or numbers[key])(numbers[key]))
    if facts.architecture in _GEMMA_27B_BLOCKS:
        if facts.blocks == _GEMMA_27B_BLOCKS[facts.architecture] and width and heads:
            text.query_pre_attn_scalar = int(width // heads)
        elif head_size:
            text.query_pre_attn_scalar = int(head_size)
    if isinstance(rope, dict) and "rope_theta" in rope and numbers.get("rope.freq_base"):
        rope["rope_theta"] = float(numbers["rope.freq_base"])
    rotated = numbers.get("rope.dimension_count")
    if rotated and head_size and rotated != head_size:
        if not (isinstance(rope, dict) and "partial_rotary_factor" in rope):
            raise ModelLoadError(f"model {spec!r}: its GGUF metadata {facts.architecture}.rope.dimension_count is {rotated} of "
                                 f"{head_size} values per head (a partial rotary), which transformers' {facts.architecture} "
                                 "model does not take from a GGUF file: it would run as another model. Give the model as a "
                                 "folder (config.json and safetensors weights) instead")
        rope["partial_rotary_factor"] = rotated / head_size
    if problem := _config_the_gguf_file_contradicts(text, facts):
        raise ModelLoadError(f"model {spec!r}: transformers' GGUF loader builds its config with {problem}: it would run "
                             "as another model. Give the model as a folder (config.json and safetensors weights) instead")


# transformers reads a GGUF file's attention.key_length into another field for these (Gemma 4's global attention).
_KEY_LENGTH_IS_ANOTHER_FIELD = frozenset({"gemma4"})


def _config_the_gguf_file_contradicts(config, facts: GgufFacts) -> str | None:
    numbers = facts.numbers
    rope = getattr(config, "rope_parameters", None)
    checks = [("embedding_length", getattr(config, "hidden_size", None)),
              ("attention.head_count", getattr(config, "num_attention_heads", None)),
              ("attention.head_count_kv", getattr(config, "num_key_value_heads", None)),
              ("rope.freq_base", rope.get("rope_theta") if isinstance(rope, dict) else None)]
    if facts.architecture not in _KEY_LENGTH_IS_ANOTHER_FIELD:
        checks.append(("attention.key_length", getattr(config, "head_dim", None)))
    for key in ("attention.layer_norm_rms_epsilon", "attention.layer_norm_epsilon"):
        checks += [(key, getattr(config, field, None)) for field in ("rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon", "norm_eps")
                   if getattr(config, field, None) is not None][:1]
    for key, built in checks:
        given = numbers.get(key)
        if given is None or not isinstance(built, (int, float)) or isinstance(built, bool):
            continue
        if not math.isclose(float(built), float(given), rel_tol=1e-5):
            return f"{built} where the file's metadata {facts.architecture}.{key} says {given}"
    return None


def _gguf_config(spec: str, location, common: dict[str, object], facts: GgufFacts):
    """The config transformers builds from a GGUF file, fitted to what the file says (`fit_config_to_the_gguf_file`);
    None where transformers cannot build one (loading then says why, naming the metadata)."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(location, **common)
    except Exception:  # noqa: BLE001 - loading the model says what is wrong with its metadata
        return None
    fit_config_to_the_gguf_file(spec, config, facts)
    return config


@contextlib.contextmanager
def _tensors_the_gguf_loader_leaves_unread():
    """The names of a GGUF file's tensors that transformers' loader finds no parameter for, and skips without a word,
    while loading inside the `with`: its weight map is looked up once per tensor (transformers 5's
    `load_gguf_checkpoint`), so a map that records its misses names them."""
    from transformers import modeling_gguf_pytorch_utils as gguf_loading

    original = gguf_loading.get_gguf_hf_weights_map
    unread: list[str] = []

    class RecordingMisses(dict):
        def __contains__(self, name) -> bool:
            found = dict.__contains__(self, name)
            if not found and name is not None:  # None: a tensor the loader's processor took whole (MoE experts)
                unread.append(name)
            return found

    def weights_map(*args, **kwargs):
        return RecordingMisses(original(*args, **kwargs))

    gguf_loading.get_gguf_hf_weights_map = weights_map
    try:
        yield unread
    finally:
        gguf_loading.get_gguf_hf_weights_map = original


# What the tensors transformers' GGUF loader skips are, where known: each changes the model.
_TENSORS_LEFT_UNREAD = (("rope_freqs", "Llama 3's RoPE scaling"), ("rope_factors", "LongRoPE's factors"),
                        ("attn_q_norm", "per-head query norms"), ("attn_k_norm", "per-head key norms"))


def _refuse_gguf_tensors_left_unread(spec: str, unread: Sequence[str]) -> None:
    """A GGUF file whose tensors transformers' loader skipped (Llama 3.1's `rope_freqs`, StableLM-2-12B's query and key
    norms) loaded as another model, under the fingerprint of the file without them."""
    if not unread:
        return
    shown = ", ".join(f"{name} ({next((what for start, what in _TENSORS_LEFT_UNREAD if start in name), 'not read')})"
                      for name in sorted(unread)[:3])
    raise ModelLoadError(f"model {spec!r}: transformers' GGUF loader skips {len(unread)} of its tensors ({shown}"
                         f"{' ...' if len(unread) > 3 else ''}): the model would run without them, as another model. Give "
                         "the model as a folder (config.json and safetensors weights) instead")


_GGUF_ARCHITECTURE_UNSUPPORTED = re.compile(r"GGUF model with architecture (\S+) is not supported")


def _unsupported_gguf_architecture(name: str, architecture: str) -> str:
    return (f"cannot load model {name!r}: its GGUF architecture {architecture!r} is one transformers cannot load from a "
            "GGUF file (factcheck reads GGUF files through it; the file is not damaged): give the model as a folder "
            "(config.json and safetensors weights) instead")


def _gguf_number_problem(reader, architecture: str) -> str | None:
    """Metadata transformers would read wrongly: a RoPE base frequency that is not a positive number, a norm's epsilon
    below 0 or not finite (every score was NaN, blamed on the weights), a RoPE scaling it drops (it reads
    `rope.scaling.*` for gpt-oss only: a YaRN model ran unscaled under the plain model's fingerprint), or key/value
    heads its key weights do not hold (numpy's "cannot reshape array" was all it said)."""
    def value(key: str):
        field = reader.fields.get(f"{architecture}.{key}")
        if field is None:
            return None
        part = field.parts[field.data[0]]
        return bytes(part).decode("utf-8", "replace") if field.types and field.types[0].name == "STRING" else part[0].item()

    base = value("rope.freq_base")
    if base is not None and not (isinstance(base, (int, float)) and math.isfinite(base) and base > 0):
        return (f"its metadata {architecture}.rope.freq_base is {base}, and a rotary base frequency must be a positive number "
                "(every score would be NaN); the file is damaged or was edited: download or convert it again")
    for key in ("attention.layer_norm_rms_epsilon", "attention.layer_norm_epsilon"):
        epsilon = value(key)
        if epsilon is not None and not (isinstance(epsilon, (int, float)) and math.isfinite(epsilon) and 0 <= epsilon <= 1):
            return (f"its metadata {architecture}.{key} is {epsilon}, and a norm's epsilon must be a finite number from 0 "
                    "to 1 (below 0 every score is NaN, past 1 it drowns the states: the model is blind to its prompt); the "
                    "file is damaged or was edited: download or convert it again")
    if heads_problem := _gguf_heads_problem(reader, architecture, value):
        return heads_problem
    scaling = value("rope.scaling.type")
    # (transformers 5 reads gpt-oss's YaRN keys too, but wrongly: the length of a key's name taken for its value.)
    if scaling not in (None, "", "none") and value("rope.scaling.factor") != 1:
        return (f"its metadata asks for {scaling!r} RoPE scaling ({architecture}.rope.scaling.type), which transformers' GGUF "
                "loader does not read: the model would run unscaled, as another model. Give the model as a folder "
                "(config.json with its rope_scaling, and safetensors weights) instead")
    # llama.cpp reads a factor alone, or the key its old convert.py wrote (16k-context Vicuna files), as linear scaling.
    for key in ("rope.scaling.factor", "rope.scale_linear"):
        factor = value(key)
        if scaling in (None, "", "none") and isinstance(factor, (int, float)) and factor not in (0, 1):
            return (f"its metadata {architecture}.{key} is {factor}, linear RoPE scaling as llama.cpp reads it, which "
                    "transformers' GGUF loader does not read: the model would run unscaled, as another model. Give the "
                    "model as a folder (config.json with its rope_scaling, and safetensors weights) instead")
    return None


def _gguf_heads_problem(reader, architecture: str, value) -> str | None:
    """Where the first block's key weights hold another number of rows than the metadata's key/value heads times the
    head size (its key length, or the width over the attention heads)."""
    heads, kv_heads, width = value("attention.head_count"), value("attention.head_count_kv"), value("embedding_length")
    head_size = value("attention.key_length") or (width // heads if isinstance(width, int) and isinstance(heads, int) and heads > 0 else None)
    keys = next((tensor for tensor in reader.tensors if tensor.name == "blk.0.attn_k.weight"), None)
    if keys is None or len(keys.shape) != 2 or not isinstance(kv_heads, int) or not isinstance(head_size, int) or head_size < 1:
        return None
    rows = int(keys.shape[1])  # GGUF lists a weight's input width first
    if rows == kv_heads * head_size:
        return None
    return (f"its metadata gives {kv_heads} key/value heads ({architecture}.attention.head_count_kv) of {head_size} values "
            f"each ({architecture}.attention.head_count {heads}, embedding_length {width}), and its tensor blk.0.attn_k.weight "
            f"holds {rows} rows, not {kv_heads * head_size}; the file is damaged or was edited: download or convert it again")


def _gguf_tensor_out_of_place(reader) -> str | None:
    """Where a tensor's data does not start where the tensors before it end (each padded to the alignment), in the
    order the header lists them: an offset pointing into another tensor's bytes, or a type code whose block size does
    not fit the bytes (Q4_1 edited to Q4_0). transformers read either without a word. None where every tensor fits."""
    expected = int(reader.data_offset)
    previous = None
    for tensor in reader.tensors:
        start = int(tensor.data_offset)
        if start != expected:
            after = (f", where {previous.name} before it ({previous.tensor_type.name}, {int(previous.n_bytes):,} bytes) ends at "
                     f"{expected - int(reader.data_offset):,}") if previous is not None else ""
            return f"its tensor {tensor.name} starts at byte {start - int(reader.data_offset):,} of the tensor data{after}"
        expected = start + -(-int(tensor.n_bytes) // int(reader.alignment)) * int(reader.alignment)
        previous = tensor
    return None


def _gguf_merges_problem(reader) -> str | None:
    """What is wrong with a BPE vocabulary's merges (tokenizer.ggml.model "gpt2"): each is two tokens joined by one
    space, and together they make every plain token of more than one character (cut to 100 of the default model's
    48,900, the tokenizer split every word into letters, silently)."""
    def strings(key: str) -> list[str]:
        field = reader.fields[key]
        return [bytes(field.parts[index]).decode("utf-8", "replace") for index in field.data]

    model = reader.fields.get("tokenizer.ggml.model")
    if model is None or bytes(model.parts[model.data[0]]) != b"gpt2" or "tokenizer.ggml.tokens" not in reader.fields:
        return None
    if "tokenizer.ggml.merges" not in reader.fields:
        return "is missing (a BPE vocabulary needs it)"
    merges = strings("tokenizer.ggml.merges")
    if odd := next((merge for merge in merges if len(merge.split(" ")) != 2), None):
        return f"holds {odd[:40]!r}, not two tokens joined by one space"
    tokens = strings("tokenizer.ggml.tokens")
    types = reader.fields.get("tokenizer.ggml.token_type")
    plain = [token for index, token in enumerate(tokens)
             if types is None or index >= len(types.data) or int(types.parts[types.data[index]][0]) == 1]
    if len(set(plain)) != len(plain):  # transformers' map keeps one id per string: the other's row is read for both
        return f"goes with a vocabulary that lists {len(plain) - len(set(plain)):,} plain token(s) twice"
    made = {merge.replace(" ", "", 1) for merge in merges}
    unmade = sum(token not in made for token in plain if len(token) > 1)
    # Merges apply in order: each joins single characters or what an earlier merge made (reversed, or the first few
    # hundred cut, most of them never apply).
    known: set[str] = set()
    out_of_order = 0
    for merge in merges:
        first, second = merge.split(" ")
        out_of_order += any(len(part) > 1 and part not in known for part in (first, second))
        known.add(first + second)
    several = sum(len(token) > 1 for token in plain)
    if unmade > several // 100 or out_of_order > len(merges) // 100:
        return (f"holds {len(merges):,} merges, which make {several - unmade:,} of its {several:,} plain tokens, "
                f"{out_of_order:,} of them joining what no earlier merge made")
    return None


_GGUF_PER_TOKEN_KEYS = ("tokenizer.ggml.token_type", "tokenizer.ggml.scores")
_GGUF_SPECIAL_TOKEN_KEYS = tuple(f"tokenizer.ggml.{role}_token_id" for role in ("bos", "eos", "padding", "unknown"))


def refuse_missing_weights(name: str, missing, config: str = "config.json") -> None:
    """transformers starts parameters the weights lack at random and only logs it: such a model's answers are noise,
    and its fingerprint changes on every load, so it is refused. `config`: where the model's settings come from (a
    GGUF file's metadata)."""
    missing = sorted(missing)
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ModelLoadError(f"model {name!r}: its weights lack {len(missing)} parameter(s) that its {config} asks "
                             f"for ({shown}), which transformers would start at random; check that {config} belongs "
                             "to these weights (num_hidden_layers, hidden_size, vocab_size)")


@contextlib.contextmanager
def no_progress_bars():
    """transformers' own progress bars (loading, writing) off inside the block, as the user had them after it."""
    from transformers.utils import logging as transformers_logging

    was_enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            transformers_logging.enable_progress_bar()


class HeldLogRecords(logging.Filter):
    """Keeps the records of one logger whose message holds a marker, to be let through later or dropped."""

    def __init__(self, logger: logging.Logger, marker: str):
        super().__init__()
        self.logger, self.marker, self.records = logger, marker, []

    def filter(self, record: logging.LogRecord) -> bool:
        if self.marker in str(record.msg):
            self.records.append(record)
            return False
        return True

    def mismatched_weights(self) -> list[str]:
        """The held report's lines on weights whose shapes differ from the model's ("model.layers.{0, 1}.k_proj.weight:
        ckpt: torch.Size([32, 64]) vs model:torch.Size([64, 64])")."""
        lines = [line for record in self.records for line in record.getMessage().splitlines() if "| MISMATCH" in line]
        return [re.sub(r"\s*\|\s*MISMATCH\s*\|\s*(?:Reinit due to size mismatch - )?", ": ", line).strip() for line in lines]

    def release(self) -> None:
        held, self.records = self.records, []
        for record in held:
            self.logger.handle(record)


@contextlib.contextmanager
def held_load_report():
    """transformers' LOAD REPORT table (missing, unexpected keys) held back while the model loads: where factcheck
    then refuses the model, its own message says what is wrong, and the table printed above it was noise."""
    logger = logging.getLogger("transformers.modeling_utils")
    held = HeldLogRecords(logger, "LOAD REPORT")
    logger.addFilter(held)
    try:
        yield held
    finally:
        logger.removeFilter(held)


EXPECTED_MODEL = ("factcheck loads a folder holding config.json, the tokenizer and weights as *.safetensors, a .gguf "
                  "file, 'smollm2' (the embedded default), or a hub id such as owner/name (which needs network access "
                  "to the hub, or the model in the local hub cache)")


# The config, tokenizer and template files transformers reads whole; the largest real ones (a 256k-entry
# tokenizer.json) are tens of MiB.
MODEL_TEXT_SUFFIXES = (".json", ".txt", ".model", ".jinja", ".tiktoken", ".vocab")
MODEL_TEXT_FILE_LIMIT = 256 * 2**20


def _names_a_hub_id(spec: str) -> bool:
    """Whether `spec` can only be a hub id: "name" or "owner/name", each beginning with a letter or a digit ("-" is
    none: said as a missing path, not as a hub that cannot be reached)."""
    path = _expanded(spec)
    return (not (path.is_absolute() or spec.startswith((".", "~")) or path.exists())
            and re.fullmatch(r"(?:[A-Za-z0-9][\w.-]*/)?[A-Za-z0-9][\w.-]*", spec) is not None)


def _hub_endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def hub_reachable(timeout_seconds: float = 3.0) -> bool:
    """Whether the hub's host takes a connection: without network transformers retries for a minute or more before
    it says so. Through a proxy, or with HF_HUB_OFFLINE set, transformers decides by itself."""
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                                              "all_proxy", "HF_HUB_OFFLINE")):
        return True
    endpoint = urlsplit(_hub_endpoint())
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        with socket.create_connection((endpoint.hostname or "", port), timeout=timeout_seconds):
            return True
    except OSError:  # no name resolution, no route, refused or timed out
        return False


def _refuse_a_name_too_long(spec: str) -> None:
    """A path with a name past the file system's limit (255 bytes) cannot be looked up at all: every check of it
    (Path.exists) raises instead of saying it is not there."""
    path = _expanded(spec)  # "~user" for no such user is said there
    try:
        os.stat(path)
    except OSError as error:
        if error.errno == errno.ENAMETOOLONG:
            longest = max((len(os.fsencode(part)) for part in Path(path).parts), default=0)
            what = ("a name in this path is longer than the file system allows" if longest > 255 else
                    f"the path is longer than the file system allows ({len(os.fsencode(str(path))):,} bytes)")
            raise ModelLoadError(f"model {spec[:80]!r}{'...' if len(spec) > 80 else ''}: {what} ({error.strerror}). "
                                 f"{EXPECTED_MODEL}") from None
    except ValueError:  # a NUL byte: no path, and not a hub id either
        raise ModelLoadError(f"model {spec!r} holds a NUL character. {EXPECTED_MODEL}") from None
    if not is_utf8_text(str(path.absolute())):  # the tokenizers library would blame the tokenizer files
        raise ModelLoadError(f"model {visible_controls(spec)!r}: its path has bytes that are not UTF-8 text, which the "
                             "tokenizer cannot be opened under: rename the folder, or link it under a UTF-8 name")


def check_model_location(spec: str, trust_remote_code: bool = False) -> None:
    """A model named by a path must be one factcheck can load: say what is wrong with it before transformers does
    (whose messages speak of repo ids, JSON or sentencepiece), and refuse pickled weights."""
    if _names_a_hub_id(spec):
        return
    path = _expanded(spec)
    if not path.exists():
        raise ModelLoadError(f"model {spec!r}: no such file or folder. {EXPECTED_MODEL}")
    if not path.is_dir():
        raise ModelLoadError(f"model {spec!r} is a file, not a model folder or a .gguf file. {EXPECTED_MODEL}")
    if (path / "config.json").is_symlink() and not (path / "config.json").exists():
        raise ModelLoadError(f"model folder {spec!r}: config.json is a link that leads nowhere (a loop, or its target is "
                             f"missing). {EXPECTED_MODEL}")
    if not (path / "config.json").exists():
        held = sorted(p.name for p in path.iterdir())[:5]
        raise ModelLoadError(f"model folder {spec!r} has no config.json (it holds {', '.join(held) or 'nothing'}). {EXPECTED_MODEL}")
    # A FIFO would block the load forever, a link to /dev/zero would read until memory runs out.
    odd = [f"{entry.name} is {file_kind(entry.stat().st_mode)}" for entry in sorted(path.iterdir())
           if entry.exists() and not entry.is_file() and not entry.is_dir()]
    odd += ["config.json is a folder"] if (path / "config.json").is_dir() else []
    if odd:
        raise ModelLoadError(f"model folder {spec!r}: {'; '.join(odd[:3])}, not a regular file. {EXPECTED_MODEL}")
    # transformers reads the chat templates of additional_chat_templates/ whole too (a 600 MB one took 8 GB).
    templates = path / "additional_chat_templates"
    read_whole = sorted(path.iterdir()) + (sorted(templates.iterdir()) if templates.is_dir() else [])
    huge = [f"{entry.relative_to(path)} is {entry.stat().st_size / 2**20:,.0f} MiB" for entry in read_whole
            if entry.suffix in MODEL_TEXT_SUFFIXES and entry.is_file() and entry.stat().st_size > MODEL_TEXT_FILE_LIMIT]
    if huge:  # parsed whole in memory: an 8 GB config.json would take the machine's memory before any message
        raise ModelLoadError(f"model folder {spec!r}: {'; '.join(huge[:3])}, more than the {MODEL_TEXT_FILE_LIMIT >> 20} MiB "
                             "a model's config and tokenizer files hold; replace it with the model's own file")
    documents = _json_documents(spec, path)
    weight_map = _index_weight_map(documents)
    empty_indexes = [name for name, document in documents.items()
                     if name.endswith(".safetensors.index.json") and not (isinstance(document, dict) and document.get("weight_map"))]
    if empty_indexes:
        raise ModelLoadError(f"model folder {spec!r}: {empty_indexes[0]} names no weight file (its weight_map is empty "
                             "or missing); replace it with the model's own index")
    _refuse_a_generation_config_transformers_rejects(spec, path, documents)
    outside = [shard for shard in sorted(set(weight_map.values())) if Path(shard).is_absolute() or ".." in Path(shard).parts]
    if outside:  # weights read from anywhere on the machine, under this model's name
        raise ModelLoadError(f"model folder {spec!r}: its index names weights outside the folder ({outside[0][:80]!r}); "
                             "a model's index names files inside it: replace it with the model's own index")
    odd_shards = [problem for shard in sorted(set(weight_map.values())) if (problem := _shard_problem(path, shard))]
    if odd_shards:  # weights in subfolders, named by the index: the same FIFOs and devices
        raise ModelLoadError(f"model folder {spec!r}: {'; '.join(odd_shards[:3])}, not a regular file. {EXPECTED_MODEL}")
    # The tensors the weight files hold, from their headers: an index may claim blocks its shards do not hold.
    files_read = _weight_files_read(spec, path, weight_map)
    holders = _weights_in_headers(path, files_read)
    _refuse_weight_matrices_stored_as_integers(spec, path, files_read, documents.get("config.json"))
    _refuse_a_weight_held_twice(spec, holders)
    _refuse_more_blocks_than_the_weights_hold(spec, documents.get("config.json"), list(holders) or list(weight_map))
    _refuse_more_positions_than_any_model(spec, documents.get("config.json"))
    _refuse_a_normalizer_that_multiplies_text(spec, documents.get("tokenizer.json"))
    _refuse_a_tokenizer_that_draws_at_random(spec, documents.get("tokenizer.json"))
    config = documents.get("config.json")
    auto_map = config.get("auto_map") if isinstance(config, dict) else None
    if isinstance(auto_map, dict) and "AutoModelForCausalLM" in auto_map and not trust_remote_code:
        warn(f"factcheck: model folder {spec!r} brings its own code (config.json's auto_map: "
             f"{str(auto_map['AutoModelForCausalLM'])[:80]!r}), which is not run: transformers' own class for its "
             "model_type loads it instead, and may compute other outputs; --factcheck-trust-remote-code (the CLI's --trust-remote-code) runs the "
             "folder's code (only for a model whose code you trust)")
    named = config.get("transformers_weights") if isinstance(config, dict) else None
    if isinstance(named, str) and not named.endswith(".safetensors"):  # read before model.safetensors, unpickled
        raise ModelLoadError(f"model folder {spec!r}: its config.json names the weights {named!r} (transformers_weights), "
                             "which are no safetensors file: factcheck does not unpickle weights (unpickling can run "
                             "code); remove transformers_weights from config.json to load model.safetensors, or convert "
                             "those weights to safetensors")
    pickled = any(path.glob("*.bin")) or any(path.glob("*.pt"))
    # Only the weights' own file counts: another *.safetensors (training_args.safetensors, a folder so named) left
    # transformers to unpickle pytorch_model.bin.
    if pickled and not any((path / name).is_file() for name in ("model.safetensors", "model.safetensors.index.json")):
        raise ModelLoadError(
            f"model folder {spec!r} holds pickled weights (*.bin or *.pt) and no model.safetensors (nor its index): factcheck does not "
            "unpickle weights (unpickling can run code). Convert them once, where you trust the files: "
            "`python -c \"from transformers import AutoModelForCausalLM as M; "
            f"M.from_pretrained('{spec}').save_pretrained('{spec}-safetensors')\"`, then check that folder"
        )


# The longest text a tokenizer's normalizer may put in for what it replaces or prepends: real ones write one mark
# ("▁" for a space); one that writes megabytes per space made a short prompt take all memory.
_NORMALIZER_TEXT_LIMIT = 64


def _refuse_a_tokenizer_that_draws_at_random(spec: str, tokenizer_document: object) -> None:
    """A BPE model saved with its training-time dropout skips merges at random: each run would tokenize a prompt
    otherwise, under one fingerprint."""
    model = tokenizer_document.get("model") if isinstance(tokenizer_document, dict) else None
    dropout = model.get("dropout") if isinstance(model, dict) else None
    if dropout not in (None, 0, 0.0, False):
        raise ModelLoadError(f"model folder {spec!r}: tokenizer.json's model has dropout {dropout!r}, a training "
                             "setting that tokenizes each text at random (say-checks, LREs and baselines would change "
                             "from run to run): set \"dropout\" to null in tokenizer.json")


def _refuse_a_normalizer_that_multiplies_text(spec: str, tokenizer_document: object) -> None:
    """tokenizer.json's normalizer (also inside a Sequence) may replace or prepend text; refused where it writes far
    more than one mark, before any prompt is tokenized."""
    pending = [tokenizer_document.get("normalizer")] if isinstance(tokenizer_document, dict) else []
    while pending:
        step = pending.pop()
        if isinstance(step, list):
            pending.extend(step)
            continue
        if not isinstance(step, dict):
            continue
        pending.extend(value for value in step.values() if isinstance(value, (list, dict)))
        written = step.get("content") if step.get("type") == "Replace" else step.get("prepend") if step.get("type") == "Prepend" else None
        if isinstance(written, str) and len(written) > _NORMALIZER_TEXT_LIMIT:
            raise ModelLoadError(f"model folder {spec!r}: tokenizer.json's normalizer ({step['type']}) writes "
                                 f"{len(written):,} characters where real tokenizers write one mark, so every prompt "
                                 "would grow without bound; replace tokenizer.json with the model's own")


def _refuse_a_generation_config_transformers_rejects(spec: str, folder: Path, documents: dict[str, object]) -> None:
    """generation_config.json as transformers checks it when loading (`max_new_tokens` 0, a list for a number): said
    naming the file, not as damaged weights."""
    if "generation_config.json" not in documents:
        return
    from transformers import GenerationConfig

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its advice on sampling settings is no problem of the file
            GenerationConfig.from_pretrained(folder)
    except Exception as error:  # noqa: BLE001 - transformers' own errors for a bad value
        raise ModelLoadError(f"model folder {spec!r}: generation_config.json cannot be used ({_first_line(error)}); fix "
                             "the value or replace it with the model's own file") from None


def _expanded(spec: str) -> Path:
    """A model path with '~' expanded."""
    try:
        return Path(spec).expanduser()
    except RuntimeError:  # "~name/..." for a user this machine does not have, or "~/..." with no home directory
        user = spec[1:].split("/")[0]
        missing = f"there is no user {user!r} on this machine" if user else "the home directory cannot be found (HOME is unset)"
        raise ModelLoadError(f"model {spec!r}: {missing} to expand '~' for. {EXPECTED_MODEL}") from None


# Where a weight's name gives its block: "model.layers.3.mlp...", "transformer.h.3.attn...", "gpt_neox.layers.3...".
_BLOCK_INDEX = re.compile(r"(?:^|\.)(?:layers|h|blocks|block|layer)\.(\d+)\.")
_BLOCK_COUNT_KEYS = ("num_hidden_layers", "n_layer", "n_layers", "num_layers")


# The JSON files transformers reads from a model folder, each a JSON object.
_MODEL_JSON_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                     "special_tokens_map.json", "added_tokens.json", "chat_template.json")
# Read by a tokenizer built from its vocabulary (no tokenizer.json), as a JSON object or not.
_OTHER_JSON_FILES_READ = ("vocab.json",)


def _json_documents(spec: str, folder: Path) -> dict[str, object]:
    """The folder's JSON files (config, tokenizer, index), read once: file name -> document. One that transformers
    reads and that is no JSON object (cut short, nested too deeply, a list) is refused here, named: transformers would
    blame the weights, drop it without a word (a generation config, and with it the model's stop tokens) or fail on
    it once per fact. Other JSON files that cannot be read are left out."""
    documents: dict[str, object] = {}
    for entry in sorted(folder.glob("*.json")):
        read_by_transformers = entry.name in _MODEL_JSON_FILES or entry.name.endswith(".safetensors.index.json")
        if not (read_by_transformers or entry.name in _OTHER_JSON_FILES_READ):
            continue  # trainer_state.json, eval_results.json: never read, and held in memory they cost gigabytes
        problem = None
        try:
            documents[entry.name] = json.loads(entry.read_text(encoding="utf-8"))
        except RecursionError:
            problem = "is nested too deeply to read"
        except UnicodeDecodeError:
            problem = "is not UTF-8 text"
        except ValueError as error:
            problem = f"is not valid JSON ({error}: cut short?)"
        except OSError:
            continue
        if problem is None and read_by_transformers and not isinstance(documents[entry.name], dict):
            problem = f"holds {type(documents[entry.name]).__name__ if documents[entry.name] is not None else 'null'}, not a JSON object"
        if problem and (read_by_transformers or "nested" in problem):
            raise ModelLoadError(f"model folder {spec!r}: {entry.name} {problem}; replace it with the model's own file")
    return documents


# Past any real model's context (Llama 4 Scout's is 10,485,760): GPT-J builds a table of sines for every position when
# it is made, and 200 million took 8 GB (3 billion failed as "weights damaged").
MOST_POSITIONS = 2**24
_POSITION_KEYS = ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length", "seq_length")


def _stated_counts(config: object, keys: Sequence[str]) -> list[tuple[str, int]]:
    """The integers a config.json states under `keys`, at its top level and in a multimodal model's text_config: (key,
    value); a bool (an int to Python) or another type is no count."""
    sections = [config, config.get("text_config")] if isinstance(config, dict) else []
    return [(key, section[key]) for section in sections if isinstance(section, dict) for key in keys
            if isinstance(section.get(key), int) and not isinstance(section.get(key), bool)]


def _refuse_more_positions_than_any_model(spec: str, config: object) -> None:
    """A config.json stating more positions than any model has is refused before the model is built."""
    for key, value in _stated_counts(config, _POSITION_KEYS):
        if value > MOST_POSITIONS:
            raise ModelLoadError(f"model {spec!r}: its config.json's {key} is {value:,}, far past any model's "
                                 f"context ({MOST_POSITIONS:,} at most here; building the model would take gigabytes "
                                 "for it): check that config.json belongs to these weights")


def _refuse_a_weight_held_twice(spec: str, holders: dict[str, list[str]]) -> None:
    """A weight that two of the files hold: transformers reads every file and keeps whichever copy it read last,
    whatever the index says (a stray shard of another download made the model silently another)."""
    for name, files in holders.items():
        if len(files) > 1:
            raise ModelLoadError(f"model {spec!r}: its weight {name} is held by {len(files)} weight files ({', '.join(files[:3])}), "
                                 "and transformers would keep whichever it read last: remove the stray file, or download "
                                 "the model again")


def _refuse_more_blocks_than_the_weights_hold(spec: str, config: object, names: Sequence[str]) -> None:
    """A config.json asking for more blocks than the weights hold (`names`: the weights') is refused before the model
    is built: built, each missing block would be started at random, and a count far too large takes all memory (or
    hours) first."""
    # Also another architecture's word for it (BART's decoder_layers) and a multimodal model's text_config: the largest
    # count stated is the one to hold (each, built, makes its blocks).
    stated = [value for _, value in _stated_counts(config, (*_BLOCK_COUNT_KEYS, "decoder_layers", "num_decoder_layers"))]
    if not stated:
        return
    asked = max(stated)
    blocks = {int(match.group(1)) for name in names if (match := _BLOCK_INDEX.search(name))}
    # Where no weight's name gives its block, each block still holds at least one weight of its own. Blocks are
    # counted, not read off the highest index: one stray weight of block 19999 holds no 20,000 blocks.
    held, what = (len(blocks), f"blocks{_numbered_up_to(blocks)}") if blocks else (len(names), "weights in all")
    if not names or asked <= held:
        return
    raise ModelLoadError(f"model {spec!r}: its config.json asks for {asked} blocks, and its weights hold {held} {what}; "
                         "check that config.json belongs to these weights (num_hidden_layers)")


def _numbered_up_to(blocks: set[int]) -> str:
    """" (numbered up to N)" where blocks are missing below the highest: what shows a stray weight; else ""."""
    return f" (numbered up to {max(blocks)})" if max(blocks) + 1 != len(blocks) else ""


def _weight_files_read(spec: str, folder: Path, weight_map: dict[str, str]) -> list[str]:
    """The safetensors files transformers reads: model.safetensors where there is one (it reads no index then), else
    those the index names. A model.safetensors beside an index naming other files is refused: one of them is stale,
    and transformers would load it without a word."""
    named = {os.path.normpath(name) for name in weight_map.values()}  # "x.safetensors" and "./x.safetensors" alike
    if not (folder / "model.safetensors").is_file():
        return sorted(named)
    others = sorted(named - {"model.safetensors"})
    if others:
        raise ModelLoadError(f"model {spec!r}: its folder holds model.safetensors and an index naming other weight files "
                             f"({', '.join(others[:3])}); transformers reads model.safetensors alone: remove whichever is "
                             "stale, or download the model again")
    return ["model.safetensors"]


def _weights_in_headers(folder: Path, files: Sequence[str]) -> dict[str, list[str]]:
    """The names of a folder's weights, each with the files holding it, from the headers (nothing else is read) of the
    safetensors `files` that transformers reads."""
    holders: dict[str, list[str]] = {}
    from safetensors import safe_open

    for weights in (folder / name for name in files):
        try:
            with safe_open(str(weights), framework="pt") as opened:
                for name in opened.keys():
                    holders.setdefault(name, []).append(weights.name)
        except Exception:  # a damaged file: loading says so, naming it
            continue
    return holders


def _shard_problem(folder: Path, shard: str) -> str | None:
    """What is wrong with a weight file the index names, if it exists and is no regular file (a missing one is said by
    loading)."""
    try:
        shard_path = folder / shard
        if shard_path.exists() and not shard_path.is_file():
            return f"{shard} is {file_kind(shard_path.stat().st_mode)}"
    except (OSError, ValueError) as error:  # a name too long for the file system, a NUL byte
        return f"{shard[:80]!r} cannot be looked up ({getattr(error, 'strerror', None) or error})"
    return None


def _index_weight_map(documents: dict[str, object]) -> dict[str, str]:
    """Weight name -> the file holding it, from the folder's safetensors index files among its JSON `documents`."""
    weight_map: dict[str, str] = {}
    for name, document in documents.items():
        read = document.get("weight_map") if name.endswith(".safetensors.index.json") and isinstance(document, dict) else None
        if isinstance(read, dict):
            weight_map.update((weight, file) for weight, file in read.items() if isinstance(weight, str) and isinstance(file, str))
    return weight_map


def _resolve_dtype(dtype: str | None) -> torch.dtype | None:
    if dtype in (None, "auto"):
        return None
    try:
        return DTYPES[str(dtype).lower()]
    except KeyError:
        raise SettingError(f"unknown dtype {dtype!r}; use one of {sorted(set(DTYPES))} or 'auto'") from None
