"""The release scenario: degrade a model in process, then gate the degraded model against the original's baseline.

Fast tests check `factcheck.model.degrade` on tiny random models of five
architectures. The slow test is the whole scenario on SmolLM2, through the
pytest plugin and `factcheck diff`: record a baseline with the default model,
run a 5-bit copy of it against that baseline, and check that the gate fails
and names and classes every regressed fact as the JSON report says.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from torch import nn

from factcheck import cli
from factcheck.model.degrade import (DegradeError, ablate_mlp, mlp_output, output_axis, output_rows, quantize_rows, round_weights,
                                     rounded_weights)

from conftest import ARCHITECTURES

# Where each tiny architecture keeps the MLP output projection of a block.
MLP_OUTPUT = {
    "llama": "mlp.down_proj",
    "gpt2": "mlp.c_proj",
    "gpt_neox": "mlp.dense_4h_to_h",
    "gptj": "mlp.fc_out",
    "gemma3": "mlp.down_proj",
}


def state(lm) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in lm.model.state_dict().items()}


def assert_same(before: dict[str, torch.Tensor], lm) -> None:
    after = lm.model.state_dict()
    assert set(after) == set(before)
    for name, tensor in before.items():
        assert torch.equal(after[name], tensor), name


@pytest.fixture(params=ARCHITECTURES)
def fresh(request, tiny_model_factory):
    """A tiny model this test may inspect freely (built anew, not the shared one)."""
    return tiny_model_factory(request.param)


# ---- rounding -------------------------------------------------------------------


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_rounding_returns_a_new_model_and_leaves_the_original_alone(fresh, bits):
    before, name, fingerprint = state(fresh), fresh.name, fresh.fingerprint
    rounded = round_weights(fresh, bits)
    assert rounded is not fresh and rounded.model is not fresh.model
    assert all(a is not b for a, b in zip(rounded.model.parameters(), fresh.model.parameters()))
    assert rounded.name == f"{name}+round{bits}"
    assert fresh.name == name
    assert_same(before, fresh)
    assert fresh.fingerprint == fingerprint
    assert rounded.fingerprint != fingerprint
    # A fresh computation agrees with the cached one (nothing went stale in either object).
    from factcheck.model.language_model import compute_fingerprint

    assert compute_fingerprint(fresh.model, fresh.tokenizer) == fingerprint
    assert compute_fingerprint(rounded.model, rounded.tokenizer) == rounded.fingerprint


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_rounding_leaves_at_most_2_to_the_bits_values_per_output_row(fresh, bits):
    rounded = round_weights(fresh, bits)
    weights = rounded_weights(rounded.model)
    assert weights, "nothing was rounded"
    for name, weight, axis in weights:
        rows = output_rows(weight, axis)
        before_rows = output_rows(fresh.model.get_parameter(name), axis)
        levels = 2 ** (bits - 1) - 1
        for row, old in zip(rows, before_rows):
            assert row.unique().numel() <= 2**bits - 1 <= 2**bits, name
            # Symmetric: the largest magnitude is kept, every element moved by at most half a step.
            step = old.abs().max() / levels
            assert torch.isclose(row.abs().max(), old.abs().max(), rtol=1e-6, atol=0)
            assert (row - old).abs().max() <= step / 2 + 1e-6
        # Every value is an integer multiple of the row's step (a row of zeros, e.g. a padding embedding, stays zero).
        steps = before_rows.abs().amax(dim=1, keepdim=True) / levels
        nonzero = steps.squeeze(1) > 0
        codes = rows[nonzero] / steps[nonzero]
        assert torch.allclose(codes, codes.round(), atol=1e-3), name
        assert not rows[~nonzero].any(), name


def test_rounding_covers_every_linear_embedding_and_conv1d_weight_once(tiny_model_factory):
    from transformers.pytorch_utils import Conv1D

    for architecture in ARCHITECTURES:
        lm = tiny_model_factory(architecture)
        expected = {
            id(m.weight) for m in lm.model.modules() if isinstance(m, (nn.Linear, nn.Embedding, Conv1D))
        }
        found = rounded_weights(lm.model)
        assert {id(w) for _, w, _ in found} == expected
        assert len(found) == len(expected)  # a tied weight counts once
        for name, _, axis in found:
            module = lm.model.get_submodule(name.removesuffix(".weight"))
            assert axis == (1 if isinstance(module, Conv1D) else 0) == output_axis(module)


def test_rounding_covers_a_mixture_of_experts_router_and_fused_expert_weights(tiny_model_factory):
    # The 55th pass: `degrade --round-bits` on Mixtral left every expert matrix and the router as they were (transformers
    # keeps them as (experts, out, in) tensors and a router module outside nn.Linear), while saying it rounded them.
    lm = tiny_model_factory("mixtral")
    rounded = round_weights(lm, 3)
    for name, parameter in rounded.model.named_parameters():
        if name.endswith(("experts.gate_up_proj", "experts.down_proj", "mlp.gate.weight")):
            rows = parameter.reshape(-1, parameter.shape[-1])  # (not transposed: outputs on the second-last axis)
            assert not torch.equal(parameter, lm.model.get_parameter(name)), name
            assert all(row.unique().numel() <= 7 for row in rows), name
    assert {name for name, _, _ in rounded_weights(lm.model)} >= {"model.layers.0.mlp.experts.gate_up_proj", "model.layers.0.mlp.gate.weight"}


def test_tied_embeddings_stay_tied_and_are_rounded_once(tiny_model_factory):
    lm = tiny_model_factory("gpt2")  # GPT-2 ties lm_head to wte
    assert lm.model.lm_head.weight is lm.model.transformer.wte.weight
    rounded = round_weights(lm, 4)
    assert rounded.model.lm_head.weight is rounded.model.transformer.wte.weight
    # Rounding twice would still give at most 15 values, so check the values themselves: one rounding of the original.
    expected = quantize_rows(lm.model.transformer.wte.weight, 4)
    assert torch.equal(rounded.model.transformer.wte.weight, expected)


def test_quantize_rows_on_known_values():
    weight = torch.tensor([[0.0, 0.1, -0.35, 0.7], [0.0, 0.0, 0.0, 0.0], [1.0, -1.0, 0.5, 0.24]])
    # 3 bits: 3 levels each side, step = max|row| / 3.
    q = quantize_rows(weight, 3)
    step = 0.7 / 3
    assert torch.allclose(q[0], torch.tensor([0.0, 0.0, -2 * step, 3 * step]))  # 0.1/step = 0.43 -> 0; -0.35/step = -1.5 -> -2 (half to even)
    assert torch.equal(q[1], torch.zeros(4))
    assert torch.allclose(q[2], torch.tensor([1.0, -1.0, 2 / 3, 1 / 3]))
    assert q.dtype == weight.dtype
    half = quantize_rows(weight.to(torch.bfloat16), 3)
    assert half.dtype == torch.bfloat16


def test_rounding_rejects_fewer_than_two_bits(tiny_llama):
    with pytest.raises(DegradeError, match="at least 2"):
        round_weights(tiny_llama, 1)


def test_rounded_model_still_runs(tiny_model_factory):
    lm = tiny_model_factory("llama")
    logits = round_weights(lm, 8).next_token_logits(["The capital city of France is"])
    assert torch.isfinite(logits).all()
    # 8 bits barely moves a random model's logits; 2 bits moves them a lot.
    reference = lm.next_token_logits(["The capital city of France is"])
    coarse = round_weights(lm, 2).next_token_logits(["The capital city of France is"])
    assert (logits - reference).abs().max() < (coarse - reference).abs().max()


# ---- MLP ablation ---------------------------------------------------------------


def test_ablation_zeroes_exactly_that_blocks_mlp_output(fresh):
    architecture = fresh.name.removeprefix("tiny-")
    before, fingerprint = state(fresh), fresh.fingerprint
    block = 1
    ablated = ablate_mlp(fresh, block)
    assert ablated is not fresh and ablated.name == f"{fresh.name}+ablate-mlp{block}"
    assert_same(before, fresh)
    assert fresh.fingerprint == fingerprint and ablated.fingerprint != fingerprint
    name, module = mlp_output(ablated, block)
    assert name == MLP_OUTPUT[architecture]
    prefix = next(n for n, m in ablated.model.named_modules() if m is ablated.layout.blocks[block])
    zeroed = {f"{prefix}.{name}.weight", f"{prefix}.{name}.bias"}
    after = ablated.model.state_dict()
    for key, tensor in after.items():
        if key in zeroed:
            assert not tensor.any(), key
        else:
            assert torch.equal(tensor, before[key]), key
    assert any(key in after for key in zeroed)
    # And the block's MLP now adds nothing: its output is zero for any input.
    mlp = ablated.layout.blocks[block].get_submodule(name.split(".")[0])
    hidden = torch.randn(2, 3, ablated.hidden_size)
    assert not mlp(hidden).any()


def test_ablation_accepts_negative_blocks_and_rejects_missing_ones(tiny_llama):
    last = ablate_mlp(tiny_llama, -1)
    assert last.name.endswith(f"+ablate-mlp{tiny_llama.num_layers - 1}")
    with pytest.raises(DegradeError, match="out of range"):
        ablate_mlp(tiny_llama, tiny_llama.num_layers)


def test_ablating_an_already_zero_mlp_is_an_error(tiny_model_factory):
    lm = tiny_model_factory("llama")
    with torch.no_grad():
        lm.model.model.layers[0].mlp.down_proj.weight.zero_()
    with pytest.raises(DegradeError, match="as it was"):
        ablate_mlp(lm, 0)


def test_ablation_names_what_it_looked_for_in_an_unknown_layout(tiny_model_factory):
    lm = tiny_model_factory("llama")
    lm.model.model.layers[0].mlp.down_proj = nn.Identity()
    with pytest.raises(DegradeError, match="down_proj"):
        ablate_mlp(lm, 0)


# ---- the whole scenario on SmolLM2 (slow) ---------------------------------------------------

CAPITALS = [
    ("France", "Paris"), ("Italy", "Rome"), ("Japan", "Tokyo"), ("Germany", "Berlin"), ("Spain", "Madrid"),
    ("Russia", "Moscow"), ("China", "Beijing"), ("Egypt", "Cairo"), ("Greece", "Athens"), ("Norway", "Oslo"),
    ("Sweden", "Stockholm"), ("Austria", "Vienna"), ("Portugal", "Lisbon"), ("Ireland", "Dublin"), ("Poland", "Warsaw"),
    ("Finland", "Helsinki"), ("Denmark", "Copenhagen"), ("Hungary", "Budapest"), ("Belgium", "Brussels"),
    ("Thailand", "Bangkok"), ("Kenya", "Nairobi"), ("Peru", "Lima"), ("Argentina", "Buenos Aires"),
    ("South Korea", "Seoul"), ("the United Kingdom", "London"),
]
CLASS_OF_KNOW = {None: "regressed", True: "suppressed", False: "forgotten"}


@pytest.mark.slow
def test_release_gate_catches_a_5_bit_copy_of_smollm2(pytester, smollm2, tmp_path_factory, monkeypatch, capsys):
    suites = pytester.path / "suites"
    suites.mkdir()
    (suites / "country_capital.json").write_text(json.dumps({
        "relation": "country capital city",
        "templates": ["The capital city of {subject} is"],
        "facts": [{"subject": s, "object": o} for s, o in CAPITALS],
    }))
    # The degraded model, saved where the plugin can load it by spec (float32: the same weights it will check).
    # 5 bits: SmolLM2 loses a few capitals and still says enough of them right for its LRE to be trusted
    # (faithfulness 0.80 [0.55-0.93] on 15 facts), so the gate can split the regressions; 3 bits leave it saying none.
    candidate = tmp_path_factory.mktemp("smollm2-round5")
    degraded = round_weights(smollm2, 5)
    degraded.model.save_pretrained(candidate)
    degraded.tokenizer.save_pretrained(candidate)
    del degraded
    baseline, report = pytester.path / "baseline.json", pytester.path / "candidate.json"
    common = ("-p", "no:cacheprovider", "-rf", "suites", f"--factcheck-baseline={baseline}")

    recorded = pytester.runpytest_inprocess(*common, "--factcheck-update-baseline")
    assert recorded.ret == pytest.ExitCode.OK
    base = json.loads(baseline.read_text())["facts"]["country_capital"]
    said_before = {s for s, f in base.items() if f["say_pass"]}
    assert len(said_before) >= 15, "SmolLM2 should know most of these capitals"

    gated = pytester.runpytest_inprocess(*common, f"--factcheck-model={candidate}", f"--factcheck-report={report}")
    assert gated.ret == pytest.ExitCode.TESTS_FAILED
    facts = {f["subject"]: f for f in json.loads(report.read_text())["facts"]}
    regressed = {s for s in said_before if not facts[s]["say_pass"]}
    assert regressed, "5-bit rounding should make SmolLM2 lose some capitals"
    gated.stdout.fnmatch_lines(["*WARNING: the baseline was recorded for another model*", f"regressions: {len(regressed)}"])
    out = gated.stdout.str()
    for subject in regressed:
        kind = CLASS_OF_KNOW[facts[subject]["know_pass"]]
        gated.stdout.re_match_lines([rf"\s+{kind}\s+country_capital\[{subject}\] \(expected '{facts[subject]['object']}'\)"])
        assert f"FAILED suites/country_capital.json::country_capital[{subject}]" in out
    # Training facts (the demonstrations) carry no know-verdict, so their regressions stay unsplit; so do test facts
    # whose first token cannot decide, or all of them when the candidate's LRE is untrusted; the others are split.
    for subject in regressed:
        fact = facts[subject]
        unsplit = fact["training"] or fact["know_undecided"] is not None or not fact["lre_trusted"]
        assert (fact["know_pass"] is None) == unsplit
    assert any(facts[s]["know_pass"] is not None for s in regressed), "some regressions should be split"

    capsys.readouterr()
    assert cli.main(["diff", str(baseline), str(report)]) == 1
    printed = capsys.readouterr().out
    assert f"Regressions: {len(regressed)} (budget 0)" in printed
    for subject in regressed:
        kind = CLASS_OF_KNOW[facts[subject]["know_pass"]]
        label = "regressed (not split" if kind == "regressed" else kind
        line = next(line for line in printed.splitlines() if line.startswith(f"  country_capital  {subject} "))
        assert label in line and facts[subject]["object"] in line
    assert "FAIL: " in printed


def test_the_degrade_command_writes_a_model_folder_the_plugin_loads(tiny_llama_folder, tmp_path, capsys):
    from factcheck.model.language_model import load_model

    original = load_model(str(tiny_llama_folder))
    out = tmp_path / "candidate"
    assert cli.main(["degrade", "--model", str(tiny_llama_folder), "--out", str(out), "--round-bits", "3", "--ablate-mlp", "-1"]) == 0
    printed = capsys.readouterr()
    assert f"--factcheck-model={out}" in printed.out
    candidate = load_model(str(out))
    expected = ablate_mlp(round_weights(original, 3), -1)
    assert candidate.fingerprint == expected.fingerprint != original.fingerprint
    assert expected.fingerprint in printed.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["candidate"]  # nothing left beside it

    # A folder holding files is replaced only with --force; a bad block is said, and nothing is written.
    assert cli.main(["degrade", "--model", str(tiny_llama_folder), "--out", str(out), "--round-bits", "4"]) == 2
    assert "already holds files" in capsys.readouterr().err and load_model(str(out)).fingerprint == expected.fingerprint
    assert cli.main(["degrade", "--model", str(tiny_llama_folder), "--out", str(out), "--round-bits", "4", "--force"]) == 0
    assert load_model(str(out)).fingerprint == round_weights(original, 4).fingerprint
    umask = os.umask(0)
    os.umask(umask)
    assert (out.stat().st_mode & 0o777) == 0o777 & ~umask  # as mkdir makes it, not a private temporary folder
    assert all((f.stat().st_mode & 0o777) == 0o666 & ~umask for f in out.iterdir())
    capsys.readouterr()
    assert cli.main(["degrade", "--model", str(tiny_llama_folder), "--out", str(tmp_path / "x"), "--ablate-mlp", "9"]) == 2
    assert "block 9 is out of range" in capsys.readouterr().err and not (tmp_path / "x").exists()
    assert cli.main(["degrade", "--model", str(tiny_llama_folder), "--out", str(tmp_path / "x")]) == 2
    assert "--round-bits N and/or --ablate-mlp BLOCK" in capsys.readouterr().err
    assert cli.main(["degrade", "--model", str(tiny_llama_folder), "--out", str(tmp_path / "x"), "--ablate-mlp", "0",
                     "--ablate-mlp", "0"]) == 2
    assert "names block(s) [0] more than once" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["candidate"]


def test_degrade_on_a_full_disk_says_so_and_leaves_nothing_behind(tiny_llama_folder, tmp_path, capsys, monkeypatch):
    from safetensors import SafetensorError
    from transformers import PreTrainedModel

    def full_disk(self, *args, **kwargs):
        (Path(args[0]) / "model.safetensors").write_bytes(b"half")
        raise SafetensorError('Error while serializing: IoError(Os { code: 28, message: "No space left on device" })')

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", full_disk)
    out = tmp_path / "out" / "candidate"
    assert cli.main(["degrade", "--model", str(tiny_llama_folder), "--out", str(out), "--round-bits", "4"]) == 2
    err = capsys.readouterr().err
    assert "could not write the model under" in err and "No space left on device" in err and "Traceback" not in err
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_degrade_stopped_by_a_signal_leaves_nothing_behind_and_says_so(tiny_llama_folder, tmp_path, capsys, monkeypatch,
                                                                       signal_name):
    import signal

    import factcheck.model.degrade as degrade

    # The signal comes once the whole model is written to the folder beside the output, before it is moved into place:
    # SIGTERM (a CI cancel, `timeout`) left that 500 MB folder behind, Ctrl-C a traceback.
    def stopped(folder):
        os.kill(os.getpid(), getattr(signal, signal_name))

    monkeypatch.setattr(degrade, "usual_permissions", stopped)
    out = tmp_path / "out" / "candidate"
    code = cli.main(["degrade", "--model", str(tiny_llama_folder), "--out", str(out), "--round-bits", "4"])
    assert code == 128 + getattr(signal, signal_name)
    err = capsys.readouterr().err
    assert "no output was left half-written" in err and "Traceback" not in err
    assert ("stopped by SIGTERM" if signal_name == "SIGTERM" else "interrupted (Ctrl-C)") in err
    assert list((tmp_path / "out").iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # given back as the command ends


def test_degrade_removes_a_killed_runs_half_written_model_and_refuses_a_link_that_leads_nowhere(tiny_llama_folder, tmp_path,
                                                                                               capsys):
    import socket
    import subprocess

    out = tmp_path / "candidate"
    # A run killed outright (SIGKILL, out of memory) leaves its folder; the next run removes it (its process is gone).
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = tmp_path / f".candidate.{socket.gethostname()}.{dead.pid}.abcd1234.partial"
    left.mkdir()
    (left / "model.safetensors").write_bytes(b"half")
    assert cli.main(["degrade", "--model", str(tiny_llama_folder), "--out", str(out), "--round-bits", "4"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["candidate"]
    # A dangling link at --out: resolving it would make folders wherever it leads.
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere" / "deeper")
    capsys.readouterr()
    for out in (tmp_path / "dangling", tmp_path / "dangling" / "model"):  # at --out, or above it
        assert cli.main(["degrade", "--model", str(tiny_llama_folder), "--out", str(out), "--round-bits", "4"]) == 2
        assert "is a link that leads nowhere" in capsys.readouterr().err and not (tmp_path / "nowhere").exists()
    # A name with control characters is printed escaped, never raw to the terminal.
    assert cli.main(["degrade", "--model", str(tiny_llama_folder), "--out", str(tmp_path / "a\nPASS"), "--round-bits", "4"]) == 0
    printed = capsys.readouterr().out
    assert "a\\nPASS" in printed and "\nPASS" not in printed.replace("a\\nPASS", "")
    # The 33rd pass: a folder name with bytes that are no UTF-8 failed only after the model was degraded.
    assert cli.main(["degrade", "--model", str(tiny_llama_folder), "--round-bits", "4",
                     "--out", os.fsdecode(os.fsencode(str(tmp_path)) + b"/d\xff")]) == 2
    assert "has bytes in its path that are not UTF-8 text" in capsys.readouterr().err


def test_degrade_never_replaces_the_source_model_the_working_folder_or_a_folder_that_is_no_model(
        tiny_llama_folder, tmp_path, capsys, monkeypatch):
    import shutil

    source = tmp_path / "source"
    shutil.copytree(tiny_llama_folder, source)
    notes = tmp_path / "work"
    notes.mkdir()
    (notes / "notes.txt").write_text("keep me", encoding="utf-8")
    monkeypatch.chdir(notes)
    loads = []
    monkeypatch.setattr("factcheck.model.language_model.load_model", lambda *a, **k: loads.append(a) or None)
    for out, said in ((source, "holds the model being degraded"), (source / "sub", "is inside the model being degraded"),
                      (notes, "is the working folder"),
                      (tmp_path, "is the working folder or holds it"), (Path("."), "is the working folder")):
        assert cli.main(["degrade", "--model", str(source), "--out", str(out), "--round-bits", "4", "--force"]) == 2
        assert said in capsys.readouterr().err, out
    other = tmp_path / "other"
    other.mkdir()
    (other / "data.csv").write_text("a,b", encoding="utf-8")
    assert cli.main(["degrade", "--model", str(source), "--out", str(other), "--round-bits", "4", "--force"]) == 2
    assert "--force replaces only a folder holding nothing but a model's files" in capsys.readouterr().err
    # A project with a config.json of its own is no model folder either.
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "config.json").write_text('{"app": 1}', encoding="utf-8")
    (project / "src" / "main.py").write_text("print(1)", encoding="utf-8")
    assert cli.main(["degrade", "--model", str(source), "--out", str(project), "--round-bits", "4", "--force"]) == 2
    assert "files that are not a model's (src/)" in capsys.readouterr().err
    # The 38th pass: the converted default model in factcheck's cache, replaced (its marker read as a model's file),
    # then replaced again by a new conversion on the next load, without a word; also the cache itself or above it.
    cache = tmp_path / "cache"
    converted = cache / "models" / "smollm2-converted"
    shutil.copytree(source, converted)
    (converted / "factcheck-model.json").write_text("{}", encoding="utf-8")
    monkeypatch.setenv("FACTCHECK_CACHE", str(cache))
    for out, said in ((converted, "lies in factcheck's cache"), (cache / "models" / "new", "lies in factcheck's cache"),
                      (cache, "lies in factcheck's cache")):
        for model in (str(source), "smollm2"):
            assert cli.main(["degrade", "--model", model, "--out", str(out), "--round-bits", "4", "--force"]) == 2
            assert f"{said} ({cache}), whose entries factcheck replaces or deletes: give a folder outside it" in capsys.readouterr().err
    monkeypatch.setenv("FACTCHECK_CACHE", str(converted / "inner"))
    assert cli.main(["degrade", "--model", str(source), "--out", str(converted), "--round-bits", "4", "--force"]) == 2
    assert "holds factcheck's cache" in capsys.readouterr().err
    # The 39th pass: the cache another run uses (its default place, or a converted model wherever it lies).
    monkeypatch.setenv("FACTCHECK_CACHE", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    default = tmp_path / "xdg" / "factcheck" / "models" / "new"
    assert cli.main(["degrade", "--model", str(source), "--out", str(default), "--round-bits", "4", "--force"]) == 2
    assert f"lies in factcheck's cache ({tmp_path / 'xdg' / 'factcheck'})" in capsys.readouterr().err
    monkeypatch.setenv("FACTCHECK_CACHE", str(tmp_path / "elsewhere"))
    assert cli.main(["degrade", "--model", str(source), "--out", str(converted), "--round-bits", "4", "--force"]) == 2
    assert "holds a model factcheck converted into its cache (factcheck-model.json)" in capsys.readouterr().err
    assert loads == []  # refused before the model is loaded
    assert (notes / "notes.txt").read_text(encoding="utf-8") == "keep me" and (other / "data.csv").is_file()
    assert (project / "src" / "main.py").is_file()
    assert (source / "config.json").is_file()


def test_degrade_refuses_one_block_named_from_both_ends_and_says_what_failed_to_save(tiny_llama_folder, tmp_path, capsys,
                                                                                   monkeypatch):
    # "1" and "-1" of a 2-block model are one block: it was ablated, then "ablating ... left every weight as it was".
    assert cli.main(["degrade", "--model", str(tiny_llama_folder), "--out", str(tmp_path / "x"), "--ablate-mlp", "1",
                     "--ablate-mlp", "-1"]) == 2
    assert "names block(s) [1] more than once (counted from the start of the model's 2 blocks)" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    # A failure to save that is no full disk is not blamed on the disk (a GGUF model's "not serializable" was).
    from transformers import PreTrainedModel

    def refused(self, *args, **kwargs):
        raise ValueError("The model is quantized with gguf and is not serializable")

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", refused)
    assert cli.main(["degrade", "--model", str(tiny_llama_folder), "--out", str(tmp_path / "x"), "--round-bits", "4"]) == 2
    err = capsys.readouterr().err
    assert "could not write the model to" in err and "not serializable" in err and "free space" not in err


def test_a_model_read_from_a_gguf_file_is_saved_as_the_de_quantized_weights_it_holds(tiny_llama):
    import copy

    from factcheck.model.default_model import forget_gguf_quantization

    model = copy.deepcopy(tiny_llama.model)
    model.config.quantization_config = {"quant_method": "gguf"}
    model.hf_quantizer = object()  # transformers refuses to save a model marked as quantized by GGUF
    forget_gguf_quantization(model)
    assert model.hf_quantizer is None and not hasattr(model.config, "quantization_config")
    other = copy.deepcopy(tiny_llama.model)
    other.config.quantization_config = {"quant_method": "bitsandbytes"}
    marker = other.hf_quantizer = object()
    forget_gguf_quantization(other)  # other quantizations are left as they are
    assert other.hf_quantizer is marker and other.config.quantization_config == {"quant_method": "bitsandbytes"}


def test_llama_4s_experts_outside_transformers_experts_interface_are_rounded(tiny_tokenizer):
    # The 56th pass: Llama 4's experts (multiplied from the left, torch.bmm(states, gate_up_proj), and not marked by
    # transformers' experts interface) were left as they were.
    import transformers as tf

    from factcheck.model.language_model import LanguageModel

    config = tf.Llama4TextConfig(vocab_size=len(tiny_tokenizer), hidden_size=32, intermediate_size=64, intermediate_size_mlp=64,
                                 num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                                 num_local_experts=2, num_experts_per_tok=1, interleave_moe_layer_step=1,
                                 max_position_embeddings=256, bos_token_id=0, eos_token_id=1, pad_token_id=2)
    torch.manual_seed(0)
    lm = LanguageModel(tf.Llama4ForCausalLM(config).eval(), tiny_tokenizer, name="tiny-llama4")
    with torch.no_grad():
        for parameter in lm.model.parameters():
            parameter.normal_()  # (Llama 4 starts its experts at zero)
    rounded = round_weights(lm, 3)
    experts = [name for name, _, _ in rounded_weights(rounded.model) if ".experts." in name]
    assert experts, "no expert matrix rounded"
    for name in experts:
        parameter = rounded.model.get_parameter(name)
        assert not torch.equal(parameter, lm.model.get_parameter(name)), name
        rows = parameter.transpose(1, 2).reshape(-1, parameter.shape[1])  # (experts, in, out): a row runs along `in`
        assert all(row.unique().numel() <= 7 for row in rows), name
