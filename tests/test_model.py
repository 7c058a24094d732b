"""The model layer on tiny random models of five architectures, plus SmolLM2 in slow tests."""

from __future__ import annotations

import json
import re

import pytest
import torch
from torch import nn

from factcheck import cli
from factcheck.model.language_model import (
    LanguageModel,
    ModelLayoutError,
    compute_fingerprint,
    find_layout,
    left_pad,
    load_model,
)

from conftest import CORPUS, build_tiny_model, build_tokenizer

# Prompts of different lengths, so a batch of them is padded on the left.
PROMPTS = [
    "The capital city of France is",
    "Rome",
    "The Colosseum is in the capital city of Italy, which is",
    "of",
    "Paris is the capital city of",
    "The",
    "Miles Davis plays the",
    "The mother tongue of Victor Hugo is",
]

# Where each architecture keeps its parts, as dotted module paths.
EXPECTED_PARTS = {
    "llama": ("model.layers", "model.norm", "lm_head", "model.embed_tokens"),
    "gpt2": ("transformer.h", "transformer.ln_f", "lm_head", "transformer.wte"),
    "gpt_neox": ("gpt_neox.layers", "gpt_neox.final_layer_norm", "lm_head", "gpt_neox.embed_in"),
    "gptj": ("transformer.h", "transformer.ln_f", "lm_head", "transformer.wte"),
    "gemma3": ("model.layers", "model.norm", "lm_head", "model.embed_tokens"),
}


def _arch(lm: LanguageModel) -> str:
    return lm.name.removeprefix("tiny-")


# ---- layout ---------------------------------------------------------------------


def test_layout_found_for_each_architecture(tiny_lm, tiny_tokenizer):
    blocks, norm, unembed, embed = (tiny_lm.model.get_submodule(p) for p in EXPECTED_PARTS[_arch(tiny_lm)])
    assert tiny_lm.layout.blocks is blocks
    assert tiny_lm.layout.final_norm is norm
    assert tiny_lm.layout.unembed is unembed
    assert tiny_lm.layout.embed is embed
    assert tiny_lm.num_layers == tiny_lm.config.num_hidden_layers == (3 if _arch(tiny_lm) == "gemma3" else 2)
    assert tiny_lm.hidden_size == 32
    assert tiny_lm.vocab_size == len(tiny_tokenizer)
    assert tiny_lm.dtype == torch.float32
    assert tiny_lm.device.type == "cpu"


def test_layout_of_a_wrapper_that_nests_the_text_model(tiny_tokenizer):
    """Multimodal wrappers keep the text model under `language_model`."""
    causal = build_tiny_model("llama", tiny_tokenizer)

    class Wrapper(nn.Module):
        def __init__(self):
            super().__init__()
            self.language_model = causal.model
            self.lm_head = causal.lm_head

        def get_output_embeddings(self):
            return self.lm_head

        def get_input_embeddings(self):
            return self.language_model.embed_tokens

    layout = find_layout(Wrapper())
    assert layout.blocks is causal.model.layers
    assert layout.final_norm is causal.model.norm
    assert layout.unembed is causal.lm_head


def test_layout_error_names_what_was_looked_for():
    with pytest.raises(ModelLayoutError, match=r"Sequential.*layers"):
        find_layout(nn.Sequential(nn.Linear(2, 2)))


# ---- padding and tokenization ---------------------------------------------------------


def test_left_pad_positions_and_mask():
    encoded = left_pad([[5, 6, 7], [8], []], pad_id=0)
    assert encoded.input_ids.tolist() == [[5, 6, 7], [0, 0, 8], [0, 0, 0]]
    assert encoded.attention_mask.tolist() == [[1, 1, 1], [0, 0, 1], [0, 0, 0]]
    assert encoded.position_ids.tolist() == [[0, 1, 2], [0, 0, 0], [0, 0, 0]]
    assert encoded.lengths == [3, 1, 0]
    assert encoded.width == 3
    assert encoded.padded_index(1, 0) == 2
    assert encoded.padded_index(1, -1) == 2
    assert encoded.padded_index(0, -2) == 1


def test_encode_offsets_point_into_the_text(tiny_llama):
    encoded = tiny_llama.encode(PROMPTS)
    for row, text in enumerate(PROMPTS):
        ids = encoded.input_ids[row, encoded.width - encoded.lengths[row] :].tolist()
        assert tiny_llama.tokenizer.decode(ids) == text
        spans = encoded.offsets[row]
        assert len(spans) == encoded.lengths[row]
        assert "".join(text[a:b] for a, b in spans) == text
    assert tiny_llama.tokenizer.padding_side == "left"
    assert tiny_llama.bos_text == "<|bos|>"


# ---- the residual stream ---------------------------------------------------------------


def test_block_outputs_equal_hidden_states(tiny_lm):
    encoded = tiny_lm.encode([tiny_lm.bos_text + p for p in PROMPTS])
    real = encoded.attention_mask.bool()
    result = tiny_lm.forward(encoded, layers=None, last_logits_only=False)
    with torch.no_grad():
        reference = tiny_lm.model(
            input_ids=encoded.input_ids,
            attention_mask=encoded.attention_mask,
            position_ids=encoded.position_ids,
            output_hidden_states=True,
            use_cache=False,
        )
    last = tiny_lm.num_layers - 1
    assert sorted(result.block_outputs) == list(range(tiny_lm.num_layers))
    assert len(reference.hidden_states) == tiny_lm.num_layers + 1
    for layer in range(last):
        torch.testing.assert_close(result.block_outputs[layer][real], reference.hidden_states[layer + 1][real], atol=1e-5, rtol=0)
    # HF's last hidden state is after the final norm; the block output is before it.
    final = result.block_outputs[last]
    assert (final[real] - reference.hidden_states[-1][real]).abs().max() > 1e-2
    torch.testing.assert_close(tiny_lm.layout.final_norm(final)[real], reference.hidden_states[-1][real], atol=1e-5, rtol=0)
    torch.testing.assert_close(tiny_lm.decode_state(final)[real], reference.logits[real], atol=1e-4, rtol=0)
    torch.testing.assert_close(result.logits[real], reference.logits[real], atol=1e-5, rtol=0)


def test_forward_returns_only_requested_layers_and_removes_hooks(tiny_lm):
    encoded = tiny_lm.encode(PROMPTS[:3])
    hooks_before = [len(block._forward_hooks) for block in tiny_lm.layout.blocks]
    full = tiny_lm.forward(encoded, layers=None, last_logits_only=False)
    result = tiny_lm.forward(encoded, layers=[0])
    assert list(result.block_outputs) == [0]
    assert result.logits.shape == (3, 1, tiny_lm.vocab_size)
    torch.testing.assert_close(result.logits[:, 0], full.logits[:, -1], atol=1e-5, rtol=0)
    assert tiny_lm.forward(encoded).block_outputs == {}
    assert [len(block._forward_hooks) for block in tiny_lm.layout.blocks] == hooks_before
    with tiny_lm.capture_blocks([tiny_lm.num_layers - 1]) as captured:
        assert len(tiny_lm.layout.blocks[-1]._forward_hooks) == hooks_before[-1] + 1
        tiny_lm.forward(encoded)
    assert [len(block._forward_hooks) for block in tiny_lm.layout.blocks] == hooks_before
    assert list(captured) == [tiny_lm.num_layers - 1]
    assert captured[tiny_lm.num_layers - 1].shape == (3, encoded.width, tiny_lm.hidden_size)


def test_decode_state_applies_final_logit_softcapping(tiny_model_factory):
    lm = tiny_model_factory("gemma3", final_logit_softcapping=2.0)
    encoded = lm.encode(PROMPTS)
    result = lm.forward(encoded, layers=[lm.num_layers - 1], last_logits_only=False)
    assert result.logits.abs().max() < 2.0
    decoded = lm.decode_state(result.block_outputs[lm.num_layers - 1])
    real = encoded.attention_mask.bool()
    torch.testing.assert_close(decoded[real], result.logits[real], atol=1e-5, rtol=0)


# ---- batch size does not change results -----------------------------------------------


def test_batch_of_one_and_of_eight_agree(tiny_lm):
    texts = [tiny_lm.bos_text + p for p in PROMPTS]
    one_by_one = tiny_lm.next_token_logits(texts, batch_size=1)
    together = tiny_lm.next_token_logits(texts, batch_size=8)
    assert together.shape == (8, tiny_lm.vocab_size)
    assert (one_by_one - together).abs().max() < 1e-4
    # The prompts give clearly different predictions, so 1e-4 is a strict test.
    assert (one_by_one[0] - one_by_one[2]).abs().max() > 0.1
    assert one_by_one.std() > 0.5


@pytest.mark.parametrize("mistake", ["no attention mask", "positions counted from the pad"])
def test_batch_check_catches_padding_mistakes(tiny_gpt2, mistake):
    """The comparison above has teeth: getting mask or positions wrong breaks it."""
    texts = [tiny_gpt2.bos_text + p for p in PROMPTS]
    reference = tiny_gpt2.next_token_logits(texts, batch_size=1)
    encoded = tiny_gpt2.encode(texts)
    mask, positions = encoded.attention_mask, encoded.position_ids
    if mistake == "no attention mask":
        mask = torch.ones_like(mask)
    else:
        positions = torch.arange(encoded.width).expand_as(positions)
    with torch.no_grad():
        wrong = tiny_gpt2.model(input_ids=encoded.input_ids, attention_mask=mask, position_ids=positions).logits[:, -1]
    assert (wrong - reference).abs().max() > 1e-2


# ---- fingerprint ---------------------------------------------------------------------


def test_fingerprint_is_stable(tiny_llama, tiny_model_factory):
    first = compute_fingerprint(tiny_llama.model, tiny_llama.tokenizer)
    assert re.fullmatch(r"[0-9a-f]{16}", first)
    assert compute_fingerprint(tiny_llama.model, tiny_llama.tokenizer) == first
    assert tiny_llama.fingerprint == first
    assert tiny_model_factory("llama").fingerprint == first  # same seed, same weights
    assert tiny_model_factory("llama", seed=1).fingerprint != first


def test_fingerprint_changes_with_one_weight(tiny_model_factory):
    lm = tiny_model_factory("gpt2")
    before = compute_fingerprint(lm.model, lm.tokenizer)
    with torch.no_grad():
        lm.layout.blocks[1].mlp.c_fc.weight[3, 5] += 1e-3
    assert compute_fingerprint(lm.model, lm.tokenizer) != before


def test_fingerprint_changes_with_tokenizer(tiny_llama):
    other = build_tokenizer(CORPUS + ("Zanzibar quixotic xylophones",))
    assert other.get_vocab() != tiny_llama.tokenizer.get_vocab()
    assert compute_fingerprint(tiny_llama.model, other) != compute_fingerprint(tiny_llama.model, tiny_llama.tokenizer)


def test_fingerprint_changes_with_the_chat_template_the_stop_tokens_and_the_models_code(tiny_llama):
    # A chat template that writes the demonstrations otherwise, or a folder's own code run with --trust-remote-code,
    # gave the fingerprint of the model without them: the gate took the baseline for this model's.
    import copy

    before = compute_fingerprint(tiny_llama.model, tiny_llama.tokenizer)
    templated = copy.deepcopy(tiny_llama.tokenizer)
    templated.chat_template = "{% for m in messages %}{{ m['content'] | upper }}{% endfor %}"
    assert compute_fingerprint(tiny_llama.model, templated) != before
    split = copy.deepcopy(tiny_llama.tokenizer)
    split.split_special_tokens = True  # every special token in a prompt read as text
    assert compute_fingerprint(tiny_llama.model, split) != before
    padded = copy.deepcopy(tiny_llama.tokenizer)
    padded.pad_token = padded.eos_token if padded.pad_token != padded.eos_token else padded.bos_token  # it ends answers
    assert compute_fingerprint(tiny_llama.model, padded) != before
    remote_code = type("LlamaForCausalLM", (type(tiny_llama.model),), {"__module__": "transformers_modules.evil.modeling"})
    model = copy.deepcopy(tiny_llama.model)
    model.__class__ = remote_code
    assert compute_fingerprint(model, tiny_llama.tokenizer) != before


def test_fingerprint_changes_with_dtype(tiny_model_factory):
    lm = tiny_model_factory("llama")
    before = compute_fingerprint(lm.model, lm.tokenizer)
    assert compute_fingerprint(lm.model.to(torch.bfloat16), lm.tokenizer) != before


def test_fingerprint_handles_scalar_tensors(tiny_model_factory):
    lm = tiny_model_factory("llama")
    lm.model.register_buffer("scale", torch.tensor(2.0))
    before = compute_fingerprint(lm.model, lm.tokenizer)
    lm.model.scale.fill_(3.0)
    assert compute_fingerprint(lm.model, lm.tokenizer) != before


# ---- loading ------------------------------------------------------------------------


def test_a_split_special_tokens_tokenizer_still_gets_its_start_token_by_id(tiny_llama_folder, tmp_path):
    # The 59th pass: with split_special_tokens: true, the BOS text factcheck writes before every prompt was read as seven
    # characters' tokens, and every verdict came from a prompt the model never sees in its own use.
    import shutil

    folder = tmp_path / "split"
    shutil.copytree(tiny_llama_folder, folder)
    config_path = folder / "tokenizer_config.json"
    config_path.write_text(json.dumps({**json.loads(config_path.read_text()), "split_special_tokens": True}))
    lm = load_model(str(folder))
    [ids], [offsets] = lm.tokenize([lm.bos_text + PROMPTS[0]])
    own = lm.tokenizer(PROMPTS[0], add_special_tokens=False)["input_ids"]
    assert ids == [lm.tokenizer.convert_tokens_to_ids(lm.bos_text), *own]
    assert offsets[0] == (0, len(lm.bos_text)) and offsets[1][0] == len(lm.bos_text)


def test_a_sentencepiece_tokenizer_that_prefixes_the_first_piece_only_gets_its_start_token_by_id(tiny_model_factory):
    # The 60th pass: transformers 5 builds Llama-2, Mistral and every llama-vocabulary GGUF tokenizer with a Metaspace
    # prefix on a text's first piece only; "<s>The capital" tokenized whole gave "<s>", "The" where the model's own use
    # (the start token by id, then the text) gives "<s>", "▁The": every text prompt's first word was another token.
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first")
    core.train_from_iterator(list(CORPUS) * 2, trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"],
                                                                   show_progress=False))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    lm = LanguageModel(tiny_model_factory("llama").model, tokenizer, name="sentencepiece-first")
    [ids], _ = lm.tokenize(["<s>The capital city of France is"])
    assert tokenizer.convert_ids_to_tokens(ids)[:2] == ["<s>", "\u2581The"]
    assert ids[1:] == tokenizer("The capital city of France is", add_special_tokens=False)["input_ids"]


def test_multi_token_prediction_blocks_after_the_models_own_are_not_blamed_on_the_config(tiny_llama_folder, tmp_path):
    # The 59th pass: DeepSeek-V3's and GLM-4.5's checkpoints store their multi-token-prediction block after the model's
    # own (`num_nextn_predict_layers`), which transformers drops; at other depths than the published ones it was refused
    # as "the config belongs to another model".
    import shutil

    from safetensors.torch import load_file, save_file

    from factcheck.model.language_model import ModelLoadError

    folder = tmp_path / "mtp"
    shutil.copytree(tiny_llama_folder, folder)
    weights = load_file(folder / "model.safetensors")
    weights.update({key.replace("layers.1.", "layers.2."): value.clone() for key, value in weights.items() if ".layers.1." in key})
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ModelLoadError, match=r"its weights hold blocks up to 2 and its config asks for 2"):
        load_model(str(folder))
    config_path = folder / "config.json"
    config_path.write_text(json.dumps({**json.loads(config_path.read_text()), "num_nextn_predict_layers": 1}))
    assert load_model(str(folder)).num_layers == 2


def test_load_model_from_a_saved_folder(tiny_llama_folder, tiny_llama):
    lm = load_model(str(tiny_llama_folder))
    assert lm.architecture == "LlamaForCausalLM"
    assert (lm.num_layers, lm.hidden_size, lm.vocab_size) == (2, 32, tiny_llama.vocab_size)
    assert lm.dtype == torch.float32
    assert lm.name == str(tiny_llama_folder)
    assert lm.load_seconds > 0
    assert lm.fingerprint == tiny_llama.fingerprint
    texts = [lm.bos_text + p for p in PROMPTS]
    torch.testing.assert_close(lm.next_token_logits(texts), tiny_llama.next_token_logits(texts), atol=1e-5, rtol=0)


def test_load_model_in_bfloat16(tiny_llama_folder):
    lm = load_model(tiny_llama_folder, dtype="bfloat16")
    assert lm.dtype == torch.bfloat16
    assert {p.dtype for p in lm.model.parameters()} == {torch.bfloat16}
    assert lm.describe()["dtype"] == "bfloat16"
    assert lm.next_token_logits(["The capital city of"]).dtype == torch.bfloat16


def test_load_model_rejects_unknown_dtype(tiny_llama_folder):
    with pytest.raises(ValueError, match=r"unknown dtype 'float13'.*bfloat16"):
        load_model(tiny_llama_folder, dtype="float13")


def test_load_model_missing_gguf_file(tmp_path):
    from factcheck.model.language_model import ModelLoadError

    # One model message, as for a missing folder (a FileNotFoundError was a traceback per fact in pytest).
    with pytest.raises(ModelLoadError, match=r"model '.*absent.gguf': no such file\. factcheck loads a folder"):
        load_model(tmp_path / "absent.gguf")


@pytest.mark.parametrize("trust", [None, True])
def test_trust_remote_code_is_off_unless_asked(tiny_llama_folder, from_pretrained_calls, trust):
    lm = load_model(tiny_llama_folder) if trust is None else load_model(tiny_llama_folder, trust_remote_code=True)
    assert lm.num_layers == 2
    assert sorted(name for name, _ in from_pretrained_calls) == ["AutoModelForCausalLM", "AutoTokenizer"]
    expected = trust is True
    for _name, kwargs in from_pretrained_calls:
        assert kwargs["trust_remote_code"] is expected


# ---- the CLI --------------------------------------------------------------------------


def test_cli_model_info(tiny_llama_folder, tiny_llama, capsys):
    assert cli.main(["model", "info", str(tiny_llama_folder)]) == 0
    out = capsys.readouterr().out
    fields = {}
    for line in out.splitlines():
        key, _, value = line.partition("  ")
        fields[key.strip()] = value.strip()
    assert fields["architecture"] == "LlamaForCausalLM"
    assert fields["layers"] == "2"
    assert fields["hidden size"] == "32"
    assert fields["vocab size"] == str(tiny_llama.vocab_size)
    assert fields["dtype"] == "float32"
    assert fields["device"] == "cpu"
    assert fields["fingerprint"] == tiny_llama.fingerprint
    assert float(fields["load seconds"]) > 0


def test_cli_model_info_json_and_dtype(tiny_llama_folder, capsys):
    assert cli.main(["model", "info", str(tiny_llama_folder), "--json", "--dtype", "bfloat16"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["dtype"] == "bfloat16"
    assert facts["model_type"] == "llama"
    assert facts["layers"] == 2
    assert re.fullmatch(r"[0-9a-f]{16}", facts["fingerprint"])


def test_cli_model_info_error_exit(tmp_path, capsys):
    assert cli.main(["model", "info", str(tmp_path / "absent.gguf")]) == 2
    assert "absent.gguf': no such file" in capsys.readouterr().err


# ---- the real default model (slow) ---------------------------------------------------


@pytest.mark.slow
def test_gguf_file_loads_like_the_converted_folder_parsed_once(smollm2, monkeypatch):
    import gguf

    from factcheck.model import default_model

    parsed = []
    reader = gguf.GGUFReader
    monkeypatch.setattr(gguf, "GGUFReader", lambda path, *args, **kwargs: parsed.append(path) or reader(path, *args, **kwargs))
    direct = load_model(default_model.gguf_path())
    assert len(parsed) == 1  # factcheck's header check and transformers' config, weights and tokenizer share it
    assert direct.num_layers == 30
    assert direct.vocab_size == smollm2.vocab_size
    texts = [smollm2.bos_text + "The capital city of France is"]
    torch.testing.assert_close(direct.next_token_logits(texts), smollm2.next_token_logits(texts), atol=1e-4, rtol=0)


def test_loading_prints_no_progress_bar_and_leaves_the_users_setting_as_it_was(tiny_llama_folder, capfd):
    from transformers.utils import logging as transformers_logging

    assert transformers_logging.is_progress_bar_enabled()
    load_model(str(tiny_llama_folder))
    captured = capfd.readouterr()
    assert "Loading weights" not in captured.err + captured.out and "it/s" not in captured.err
    assert transformers_logging.is_progress_bar_enabled()


def test_the_fingerprint_covers_the_config_that_changes_outputs_not_where_it_was_loaded_from(tiny_llama_folder, tmp_path):
    import shutil

    original = load_model(str(tiny_llama_folder)).fingerprint
    for change, same in (({"rms_norm_eps": 0.3}, False), ({"hidden_act": "relu"}, False),
                         ({"transformers_version": "0.0.1", "use_cache": False}, True)):
        copy = tmp_path / "-".join(change)
        shutil.copytree(tiny_llama_folder, copy)
        config = json.loads((copy / "config.json").read_text(encoding="utf-8"))
        (copy / "config.json").write_text(json.dumps(config | change), encoding="utf-8")
        assert (load_model(str(copy)).fingerprint == original) == same, change
    # Half the merges (the same vocabulary), or another end-of-turn token, is another model too.
    merges = tmp_path / "merges"
    shutil.copytree(tiny_llama_folder, merges)
    tokenizer = json.loads((merges / "tokenizer.json").read_text(encoding="utf-8"))
    tokenizer["model"]["merges"] = tokenizer["model"]["merges"][: len(tokenizer["model"]["merges"]) // 2]
    (merges / "tokenizer.json").write_text(json.dumps(tokenizer), encoding="utf-8")
    stops = tmp_path / "stops"
    shutil.copytree(tiny_llama_folder, stops)
    (stops / "generation_config.json").write_text(json.dumps({"eos_token_id": [1, 310]}), encoding="utf-8")
    assert len({original, load_model(str(merges)).fingerprint, load_model(str(stops)).fingerprint}) == 3


# ---- the 29th outside review: model files and the CLI ---------------------------------


def test_a_tokenizer_with_no_end_of_text_nor_pad_token_pads_with_id_0(tiny_llama):
    # lens and tune padded with None: "full(): argument 'fill_value' must be Number, not NoneType".
    import copy

    tokenizer = copy.deepcopy(tiny_llama.tokenizer)
    tokenizer.pad_token, tokenizer.eos_token, tokenizer.bos_token = None, None, None
    bare = LanguageModel(tiny_llama.model, tokenizer, name="bare")
    assert bare.pad_id == 0 and tiny_llama.pad_id == tiny_llama.tokenizer.pad_token_id
    logits = bare.next_token_logits(["Paris is", "The capital city of France is"])
    alone = bare.next_token_logits(["Paris is"])
    torch.testing.assert_close(logits[:1], alone, atol=1e-4, rtol=0)  # the padding is masked out


def test_the_fingerprint_reads_stop_tokens_as_they_are_used_and_not_a_gguf_files_name(tiny_llama):
    import copy

    from factcheck.model.language_model import config_for_fingerprint

    model = copy.deepcopy(tiny_llama.model)
    model.generation_config.eos_token_id = [2, 7]
    listed = compute_fingerprint(model, tiny_llama.tokenizer)
    # transformers accepts [7, 2, null] and [2, "x"]; sorting them raised TypeError for every fact.
    for stops in ([7, 2, None], [2, "<|im_end|>", 7], [2, [3], 7]):
        model.generation_config.eos_token_id = stops
        assert compute_fingerprint(model, tiny_llama.tokenizer) == listed
        assert {2, 7} <= LanguageModel(model, tiny_llama.tokenizer, name="stops").stop_token_ids
    # Two copies of one GGUF file under two names are one model (transformers keeps the file's name in the config).
    config = copy.deepcopy(tiny_llama.model.config)
    config.quantization_config = {"quant_method": "gguf", "gguf_file": "model.gguf"}
    renamed = copy.deepcopy(config)
    renamed.quantization_config = {"quant_method": "gguf", "gguf_file": "smollm2-q4_1.gguf"}
    assert config_for_fingerprint(config) == config_for_fingerprint(renamed) != config_for_fingerprint(tiny_llama.model.config)


def test_a_model_path_with_a_name_past_the_file_systems_limit_is_named_as_such(capsys):
    from factcheck.model.language_model import ModelLoadError

    too_long = "./" + "a" * 300
    with pytest.raises(ModelLoadError, match=r"a name in this path is longer than the file system allows .*factcheck loads a folder"):
        load_model(too_long)
    assert cli.main(["model", "info", too_long]) == 2
    assert "longer than the file system allows" in capsys.readouterr().err
    # "-" (stdin for many tools) is no hub id: said as a missing path, not as a hub that cannot be reached.
    with pytest.raises(ModelLoadError, match=r"model '-': no such file or folder"):
        load_model("-")
    # Names each under the limit, the whole past it (the 42nd pass: called "a name ... longer"): the path is named.
    deep = "./" + "/".join(["b" * 200] * 25)
    with pytest.raises(ModelLoadError, match=r"the path is longer than the file system allows \(5,\d{3} bytes\)"):
        load_model(deep)


def test_weights_whose_shapes_do_not_fit_the_config_are_named(tiny_llama_folder, tmp_path):
    import shutil

    from factcheck.model.language_model import ModelLoadError

    folder = tmp_path / "kv"
    shutil.copytree(tiny_llama_folder, folder)
    config = json.loads((folder / "config.json").read_text())
    heads = config["num_attention_heads"]
    config["num_key_value_heads"] = heads // 2 if config.get("num_key_value_heads", heads) == heads else heads  # K and V change shape
    (folder / "config.json").write_text(json.dumps(config))
    # transformers' own message pointed at a report factcheck holds back: "For details look at the above report!".
    with pytest.raises(ModelLoadError, match=r"weights whose shapes do not fit its config.json: model\.layers\..*_proj\.weight: "
                                             r"ckpt: torch\.Size"):
        load_model(str(folder))


def test_the_commands_that_need_no_model_import_no_torch_and_an_unforeseen_error_exits_2(monkeypatch, capsys, tmp_path):
    import subprocess
    import sys

    # `factcheck diff` and `--version` imported torch and transformers through tune's defaults: 5 s per diff, and a
    # broken environment (HF_ENDPOINT='http://[::1') ended them in a traceback with exit 1, which diff gives for regressions.
    code = "import sys; from factcheck import cli; cli.build_parser(); print('torch' in sys.modules, 'transformers' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split() == ["False", "False"]

    def unforeseen(*args, **kwargs):
        raise TypeError("'<' not supported between instances of 'str' and 'int'")

    monkeypatch.setattr("factcheck.gate.diff.run_diff", unforeseen)
    (tmp_path / "a.json").write_text("{}")
    assert cli.main(["diff", str(tmp_path / "a.json"), str(tmp_path / "a.json")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "the diff command failed unexpectedly" in err


def _tiny_with_scaled_head(model_class, config_class, tokenizer, **scale):
    from factcheck.model.language_model import LanguageModel

    config = config_class(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256, bos_token_id=0, eos_token_id=1, pad_token_id=2,
        initializer_range=0.3, **scale,
    )
    torch.manual_seed(0)
    return LanguageModel(model_class(config).eval(), tokenizer, name=model_class.__name__)


@pytest.mark.parametrize("kind", ["granite", "cohere"])
def test_decode_state_scales_logits_as_the_models_forward_does(kind, tiny_tokenizer):
    # Granite divides its logits by `logits_scaling`, Cohere multiplies them by `logit_scale`: the know-check's
    # probabilities, the lens and tune read the model's own distribution only with the same factor.
    import transformers as tf

    if kind == "granite":
        lm, expected = _tiny_with_scaled_head(tf.GraniteForCausalLM, tf.GraniteConfig, tiny_tokenizer, logits_scaling=4.0), 0.25
    else:
        lm, expected = _tiny_with_scaled_head(tf.CohereForCausalLM, tf.CohereConfig, tiny_tokenizer, logit_scale=0.0625), 0.0625
    encoded = lm.encode(PROMPTS)
    result = lm.forward(encoded, layers=[lm.num_layers - 1], last_logits_only=False)
    real = encoded.attention_mask.bool()
    torch.testing.assert_close(lm.decode_state(result.block_outputs[lm.num_layers - 1])[real], result.logits[real],
                               atol=1e-5, rtol=1e-5)
    assert lm.head_scale == pytest.approx(expected, rel=1e-4)


def test_plain_head_has_no_scale(tiny_lm):
    assert tiny_lm.head_scale == 1.0


def test_a_head_no_factor_explains_is_refused_naming_the_fix(tiny_model_factory):
    from factcheck.errors import FactcheckError

    lm = tiny_model_factory("llama")
    shift = torch.linspace(-3.0, 3.0, lm.vocab_size)

    def add_a_bias_the_head_does_not_hold(module, inputs, output):
        output.logits = output.logits + shift
        return output

    lm.model.register_forward_hook(add_a_bias_the_head_does_not_hold)
    state = torch.zeros(1, lm.hidden_size)
    with pytest.raises(FactcheckError, match=r"do not give the logits its forward gives .*--factcheck-lre=off"):
        lm.decode_state(state)


@pytest.mark.parametrize("kind", ["phi", "opt"])
def test_models_whose_final_norm_or_blocks_sit_elsewhere_are_read(kind, tiny_tokenizer):
    # The 51st pass: Phi-1 to 2 keep their final norm as `final_layernorm`, OPT its blocks in `model.decoder`: both were
    # refused as if they were no transformers.
    import transformers as tf

    from factcheck.model.language_model import LanguageModel

    sizes = dict(vocab_size=len(tiny_tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                 max_position_embeddings=256, bos_token_id=0, eos_token_id=1, pad_token_id=2)
    if kind == "phi":
        model_class, config = tf.PhiForCausalLM, tf.PhiConfig(intermediate_size=64, **sizes)
    else:
        model_class, config = tf.OPTForCausalLM, tf.OPTConfig(ffn_dim=64, word_embed_proj_dim=32, **sizes)
    torch.manual_seed(0)
    lm = LanguageModel(model_class(config).eval(), tiny_tokenizer, name=kind)
    encoded = lm.encode(PROMPTS)
    result = lm.forward(encoded, layers=[lm.num_layers - 1], last_logits_only=False)
    real = encoded.attention_mask.bool()
    torch.testing.assert_close(lm.decode_state(result.block_outputs[lm.num_layers - 1])[real], result.logits[real], atol=1e-4, rtol=1e-4)
    assert lm.head_scale == 1.0


@pytest.mark.parametrize("norm_before", [False, True])
def test_an_opt_that_projects_out_is_refused_with_its_layout_named(norm_before, tiny_tokenizer):
    # The 52nd pass: OPT-350m (a norm after each block, no final norm, project_in/out) was refused as "a state-space or
    # recurrent model"; with a final norm and project_out the first decode failed with a raw shape-error traceback.
    import transformers as tf

    from factcheck.errors import FactcheckError
    from factcheck.model.language_model import LanguageModel

    config = tf.OPTConfig(vocab_size=len(tiny_tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                          ffn_dim=64, word_embed_proj_dim=16, do_layer_norm_before=norm_before, max_position_embeddings=256,
                          bos_token_id=0, eos_token_id=1, pad_token_id=2)
    torch.manual_seed(0)
    model = tf.OPTForCausalLM(config).eval()
    if not norm_before:
        with pytest.raises(ModelLayoutError, match=r"OPTForCausalLM is not a layout factcheck reads: .*project_out.*not supported"):
            LanguageModel(model, tiny_tokenizer, name="opt-350m-like")
        return
    lm = LanguageModel(model, tiny_tokenizer, name="opt-projecting")
    with pytest.raises(FactcheckError, match=r"do not give the logits its forward gives \(they cannot be applied to its last "
                                             r"block's output: .*--factcheck-lre=off"):
        lm.head_scale


def test_a_model_whose_blocks_keep_several_streams_is_refused_by_what_reads_its_states(tiny_tokenizer):
    # The 58th pass: Gemma 3n's blocks return its AltUp streams stacked ([2, batch, tokens, width]); taking their first
    # dimension for the batch's failed every fact with an IndexError traceback. What it says needs no state.
    import transformers as tf

    from factcheck.errors import FactcheckError
    from factcheck.model.hooks import capture_blocks
    from factcheck.model.language_model import LanguageModel

    config = tf.Gemma3nTextConfig(
        vocab_size=len(tiny_tokenizer), vocab_size_per_layer_input=len(tiny_tokenizer), bos_token_id=0, eos_token_id=1,
        pad_token_id=2, hidden_size=32, intermediate_size=[64] * 2, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, hidden_size_per_layer_input=8, laurel_rank=4, altup_num_inputs=2,
        num_kv_shared_layers=0, max_position_embeddings=256, layer_types=["full_attention"] * 2,
        activation_sparsity_pattern=[0.0] * 2)
    torch.manual_seed(0)
    lm = LanguageModel(tf.Gemma3nForCausalLM(config).eval(), tiny_tokenizer, name="gemma3n")
    assert lm.forward(lm.encode(PROMPTS[:1])).logits.shape[-1] == len(tiny_tokenizer)
    with pytest.raises(FactcheckError, match=r"'gemma3n': its blocks give their states as a tensor of shape \[2, 1, \d+, 32\], "
                                             r"not one state per token .*--factcheck-lre=off"):
        with capture_blocks(lm, [0]):
            lm.forward(lm.encode(PROMPTS[:1]))


def test_a_model_whose_config_names_convolution_layers_is_refused_naming_them(tiny_tokenizer):
    # The 58th pass: LFM2's short convolutions among its attention layers were refused only for its final norm's name
    # (`embedding_norm`): the layer kinds of its config's layer_types say why.
    import transformers as tf

    from factcheck.model.language_model import LanguageModel

    config = tf.Lfm2Config(vocab_size=len(tiny_tokenizer), bos_token_id=0, eos_token_id=1, pad_token_id=2, hidden_size=32,
                           intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                           max_position_embeddings=256, layer_types=["conv", "full_attention"], block_ff_dim=64)
    torch.manual_seed(0)
    with pytest.raises(ModelLayoutError, match=r"Lfm2ForCausalLM holds layers that are not attention alone \('conv', by "
                                               r"its config's layer_types\).*not supported"):
        LanguageModel(tf.Lfm2ForCausalLM(config).eval(), tiny_tokenizer, name="lfm2")


def test_a_vision_language_folder_is_named_as_no_causal_model_not_as_a_damaged_config(tmp_path):
    # The 58th pass: Qwen2.5-VL and Mistral 3 folders were refused as if their config.json were broken ("fix the field
    # it names, or put the model's own config.json beside its weights").
    import transformers as tf

    from factcheck.model.language_model import ModelLoadError, _refuse_a_config_no_model_can_be_built_from

    text = dict(vocab_size=420, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=256)
    tf.Mistral3Config(text_config={"model_type": "mistral", **text}).save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match=r"transformers has no causal language model for its config \(Mistral3Config, "
                                             r"model_type 'mistral3'\): it is a model of another kind") as refused:
        _refuse_a_config_no_model_can_be_built_from("vl", tmp_path, {})
    assert "fix the field" not in str(refused.value)


def test_a_model_with_recurrent_layers_is_refused_naming_them(tiny_model_factory):
    # The 52nd pass: hybrid models (Falcon-H1, Bamba, Jamba, Zamba: found through their final_layernorm) loaded, then
    # every pass failed with an IndexError traceback in the attention cache.
    from factcheck.model.language_model import LanguageModel, ModelLayoutError

    class BambaMixer(nn.Module):  # named as transformers names its recurrent layers
        def forward(self, states):
            return states

    lm = tiny_model_factory("llama")
    lm.model.model.layers[1].add_module("mixer", BambaMixer())
    with pytest.raises(ModelLayoutError, match=r"holds recurrent \(state-space\) layers \(BambaMixer\).*not supported"):
        LanguageModel(lm.model, lm.tokenizer, name="hybrid")
    del lm.model.model.layers[1].mixer
