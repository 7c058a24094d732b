"""`factcheck tune`: the layer and beta sweep on held-out folds, the choice, and writing it into suite files."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
import torch

from factcheck.knows import tune
from factcheck.cli import main
from factcheck.knows.lre import DEFAULT_BETA, estimate_lre, prompt_states, query_sites
from factcheck.knows.lre_metrics import FaithfulnessReport, first_token_ids
from factcheck.suites.suite import Fact, SuiteError, load_suite, parse_suite

TEMPLATE = "The capital city of {subject} is"
TRAINING = (Fact("France", "Paris"), Fact("Germany", "Berlin"), Fact("Italy", "Rome"), Fact("Japan", "Tokyo"))
PROJECT_SUITES = Path(__file__).resolve().parents[1] / "suites"


def said_facts(model, training=TRAINING) -> list[Fact]:
    """Facts a random tiny model gets right: subjects are the tokenizer's alphabetic pieces, each object is the
    word the model itself says after the training facts as demonstrations (kept only where that word's first
    token is the model's top-1)."""
    pieces = {model.tokenizer.decode([i]).strip() for i in range(len(model.tokenizer))}
    subjects = sorted(p for p in pieces - {f.subject for f in training} if p.isalpha() and len(p) >= 2)
    sites = query_sites(model, TEMPLATE, training, subjects)
    top = prompt_states(model, sites, 0).logits.argmax(-1).tolist()
    facts = []
    for subject, site, token in zip(subjects, sites, top):
        word = model.tokenizer.decode([token])
        if word.startswith(" ") and word.strip().isalpha() and token in first_token_ids(model, site, [word.strip()]):
            facts.append(Fact(subject, word.strip()))
    return facts


def suite_document(facts, **settings) -> dict:
    document = {
        "relation": "tiny relation",
        "category": "factual",
        "description": "kept as written",
        "templates": [TEMPLATE],
        "facts": [{"subject": f.subject, "object": f.object} for f in facts],
    }
    if settings:
        document["settings"] = settings
    return document


def write_suite(path: Path, document: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tune.format_suite_json(document), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def four_blocks(tiny_model_factory):
    return tiny_model_factory("llama", num_hidden_layers=4)


# ---- candidates and folds ----------------------------------------------------------------------
def test_default_layers_stride_over_the_first_80_percent():
    assert tune.default_layers(30) == [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23]
    assert tune.default_layers(4) == [1, 3]
    assert tune.default_layers(2) == [1]
    assert tune.default_layers(1) == [0]


def test_folds_start_with_the_plugin_training_set_and_held_out_facts_exclude_the_fold():
    facts = [Fact(f"s{i}", f"o{i}") for i in range(11)]
    folds = tune.make_folds(facts, 4, 3)
    assert [list(fold) for fold in folds] == [facts[0:4], facts[4:8]]  # only complete folds
    for fold in folds:
        outside = tune.held_out(facts, fold)
        assert not {f.subject for f in outside} & {f.subject for f in fold}
        assert len(outside) == len(facts) - len(fold)
    assert tune.held_out(facts, folds[1], limit=3) == (facts[0], facts[1], facts[2])
    assert tune.make_folds(facts, 4, 1) == [tuple(facts[:4])]
    assert tune.make_folds(facts[:5], 4, 3) == [tuple(facts[:4])]  # one fact held out is enough


def test_suites_too_small_to_hold_a_fact_out_are_refused():
    facts = [Fact(f"s{i}", f"o{i}") for i in range(4)]
    with pytest.raises(tune.TuneError, match="at least 5"):
        tune.make_folds(facts, 4, 3)
    with pytest.raises(tune.TuneError, match="at least 2 training facts"):
        tune.make_folds(facts, 1, 3)


# ---- every layer at once equals one estimate per layer --------------------------------------------
@pytest.mark.parametrize("architecture", ["llama", "gpt2"])
def test_estimate_layers_equals_estimate_lre_at_each_layer(tiny_model_factory, architecture):
    blocks = {"num_hidden_layers": 4} if architecture == "llama" else {"n_layer": 4}
    model = tiny_model_factory(architecture, **blocks)
    facts = TRAINING + (Fact("Spain", "Madrid"),)
    together = tune.estimate_layers(model, TEMPLATE, TRAINING, [2, 0, 1, 3], beta=3.0, rank=8)
    assert sorted(together) == [0, 1, 2, 3]
    for layer, lre in together.items():
        alone = estimate_lre(model, (TEMPLATE, facts), layer, n_train=4, beta=3.0, rank=8)
        scale = float(alone.weight.abs().max()) + 1e-6
        assert torch.allclose(lre.weight, alone.weight, atol=1e-5 * scale), layer
        assert torch.allclose(lre.bias, alone.bias, atol=1e-5 * (float(alone.bias.abs().max()) + 1e-6)), layer
        assert (lre.layer, lre.beta, lre.rank, lre.training) == (layer, 3.0, 8, alone.training)
    assert float(together[0].weight.abs().max()) > 1e-3  # a real Jacobian, not zeros


def test_states_by_layer_match_prompt_states(four_blocks):
    sites = query_sites(four_blocks, TEMPLATE, TRAINING, ["Spain", "the United Kingdom", "Miles Davis"])
    together = tune.states_by_layer(four_blocks, sites, [0, 2], batch_size=2)
    for layer in (0, 2):
        alone = prompt_states(four_blocks, sites, layer)
        for name in ("h", "z", "logits"):
            assert torch.allclose(getattr(together[layer], name), getattr(alone, name), atol=1e-5), (layer, name)


# ---- choosing ----------------------------------------------------------------------------------
def test_choose_takes_the_best_strict_score_then_lenient_then_the_nearest_to_the_current_value():
    S = tune.Score
    assert tune.choose({1: S(3, 10, 3, 10), 3: S(6, 10, 6, 10), 5: S(5, 10, 9, 10)}, current=1) == 3
    assert tune.choose({1: S(6, 10, 6, 10), 3: S(6, 10, 7, 10)}, current=1) == 3  # lenient breaks the tie
    assert tune.choose({1: S(6, 10, 6, 10), 3: S(6, 10, 6, 10), 9: S(6, 10, 6, 10)}, current=8) == 9
    assert tune.choose({2.0: S(1, 2, 1, 2), 3.0: S(1, 2, 1, 2)}, current=2.5) == 2.0  # equally near: the smaller
    assert tune.choose({1: S(0, 0, 0, 0), 3: S(0, 4, 0, 4)}, current=1) == 3  # untested ranks last


def test_sweep_picks_the_layer_then_the_beta_with_the_best_held_out_score(four_blocks, tmp_path, monkeypatch):
    """With the scores forced (layer 2 best; at layer 2, beta 3 best), the sweep must find them, and no LRE is
    ever scored on one of its own training facts."""
    facts = TRAINING + tuple(Fact(f"city {i}", f"place {i}") for i in range(8))
    real = tune.faithfulness
    scored = []

    def share(layer, beta):
        if layer != 2:
            return 0.25
        return 1.0 if beta == 3.0 else 0.5

    def forced(model, lre, relation, states=None):
        report = real(model, lre, relation, states=states)
        scored.append(({s for s, _ in lre.training}, [f.fact.subject for f in report.facts]))
        right = round(share(lre.layer, lre.beta) * len(report.facts))
        return FaithfulnessReport(tuple(
            dataclasses.replace(f, model_strict=True, model_lenient=True, lre_strict=i < right, lre_lenient=i < right,
                                lre_undecided=False)
            for i, f in enumerate(report.facts)
        ))

    monkeypatch.setattr(tune, "faithfulness", forced)
    suite = load_suite(write_suite(tmp_path / "s.json", suite_document(facts, shots=4)))
    result = tune.tune_suite(four_blocks, suite, layers=[0, 1, 2, 3], betas=[1.0, 3.0], folds=2)
    assert (result.layer, result.beta) == (2, 3.0)
    assert list(result.layer_scores) == [0, 1, 2, 3]
    assert result.layer_scores[2].strict == 0.5 and result.layer_scores[0].strict == 0.25
    assert set(result.beta_scores) == {1.0, 3.0, DEFAULT_BETA}  # the grid and the current (default) beta
    assert result.beta_scores[3.0].strict == 1.0 and result.score.strict == 1.0
    assert result.layer_scores[2].strict_tested == 2 * 8  # two folds, 8 held-out facts each
    for training, tested in scored:
        assert tested and not training & set(tested)
    folds = {frozenset(training) for training, _ in scored}
    assert folds == {frozenset(f.subject for f in facts[:4]), frozenset(f.subject for f in facts[4:8])}


def test_real_sweep_scores_every_layer_on_held_out_facts_only(four_blocks, tmp_path, monkeypatch):
    said = said_facts(four_blocks)
    assert len(said) >= 3, "the tiny model should complete a few words itself"
    facts = TRAINING + tuple(said)
    suite = load_suite(write_suite(tmp_path / "s.json", suite_document(facts, shots=4)))
    real = tune.faithfulness
    seen = []

    def spy(model, lre, relation, states=None):
        report = real(model, lre, relation, states=states)
        seen.append(({s for s, _ in lre.training}, {f.fact.subject for f in report.facts}))
        return report

    monkeypatch.setattr(tune, "faithfulness", spy)
    result = tune.tune_suite(four_blocks, suite, layers=[0, 1, 2], folds=2)
    assert result.n_train == 4 and result.folds[0] == TRAINING  # fold 0: the plugin's training set
    assert list(result.layer_scores) == [0, 1, 2]
    assert result.layer_scores[0].strict_tested >= len(said)  # fold 0 alone tests every said fact
    best = max(s.strict for s in result.layer_scores.values())
    assert result.layer_scores[result.layer].strict == best
    assert result.beta_scores[result.beta].strict == max(s.strict for s in result.beta_scores.values())
    for fold, held in zip(result.folds, result.held_out):
        assert not {f.subject for f in fold} & {f.subject for f in held}
    assert seen and all(training and not training & tested for training, tested in seen)


def test_the_implicit_path_scores_every_layer_and_beta_as_forming_w_does(four_blocks, tmp_path):
    """Decoding the held-out states by products is exact: every pooled count, and so the choice, equals the full
    path's; and the implicit path never forms a W."""
    said = said_facts(four_blocks)
    facts = TRAINING + tuple(said) + tuple(Fact(f"city {i}", f"place {i}") for i in range(4))
    suite = load_suite(write_suite(tmp_path / "s.json", suite_document(facts, shots=4)))
    runs = {path: tune.tune_suite(four_blocks, suite, layers=[0, 1, 2], betas=[1.0, 3.0], folds=2, lre_path=path)
            for path in ("full", "implicit")}
    full, implicit = runs["full"], runs["implicit"]
    assert (full.lre_path, implicit.lre_path) == ("full", "implicit")
    assert implicit.layer_scores == full.layer_scores and implicit.beta_scores == full.beta_scores
    assert (implicit.layer, implicit.beta, implicit.fold0_score) == (full.layer, full.beta, full.fold0_score)
    assert full.layer_scores[0].strict_tested >= len(said)
    assert "W h decoded by products, W never formed" in tune.format_result(implicit)
    assert "W formed per fold" in tune.format_result(full)
    # A suite too short for the folds asked says how many it made, and why.
    assert f"{len(full.folds)} fold(s)," in tune.format_result(full)
    short = tune.format_result(dataclasses.replace(full, folds_asked=1000))
    assert f"{len(full.folds)} fold(s), not the 1000 asked: the suite's {len(facts)} facts make only" in short


def test_decoded_held_out_states_equal_the_formed_lre_and_refuse_other_states(four_blocks):
    sites = query_sites(four_blocks, TEMPLATE, TRAINING, ["Spain", "Egypt", "Peru"])
    states = tune.states_by_layer(four_blocks, sites, [1])[1]
    decoded = tune.DecodedHeldOut.of(four_blocks, TEMPLATE, TRAINING, 1, states.h, 2.0, "r")
    formed = estimate_lre(four_blocks, (TEMPLATE, TRAINING), 1, n_train=4, beta=2.0)
    torch.testing.assert_close(decoded.logits(four_blocks, states.h), formed.logits(four_blocks, states.h), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(decoded.with_beta(3.0).logits(four_blocks, states.h),
                               formed.with_beta(3.0).logits(four_blocks, states.h), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="held-out states"):
        decoded.logits(four_blocks, states.h.clone())


def test_auto_takes_products_only_when_they_cost_less_than_forming_w():
    # SmolLM2 (d = 576): 12 default layers x 38 held-out facts is more than half of d, 3 layers x 20 is not;
    # an 8B model (d = 4096) sweeps its 13 default layers x 100 held-out facts by products.
    assert not tune._use_implicit("auto", None, 12, 37, 576)
    assert tune._use_implicit("auto", None, 3, 19, 576)
    assert tune._use_implicit("auto", None, len(tune.default_layers(32)), 100, 4096)
    assert not tune._use_implicit("auto", 16, 3, 19, 576)  # a truncated W needs W itself
    assert tune._use_implicit("implicit", None, 12, 100, 576) and not tune._use_implicit("full", None, 1, 1, 4096)
    with pytest.raises(tune.TuneError, match="rank"):
        tune._use_implicit("implicit", 16, 3, 19, 576)
    with pytest.raises(tune.TuneError, match="lre_path"):
        tune._use_implicit("sometimes", None, 3, 19, 576)


# ---- writing -----------------------------------------------------------------------------------
def test_write_choice_sets_layer_and_beta_and_keeps_everything_else(tmp_path):
    facts = [Fact(f"s{i}", f"o{i}") for i in range(6)]
    document = suite_document(facts, shots=4, markers=["slow"], lre={"rank": 16, "n_train": 4, "layer": "emb"})
    document["facts"][2]["aliases"] = ["x", "y"]
    document["facts"][3]["tags"] = ["hard"]
    path = write_suite(tmp_path / "s.json", document)

    assert tune.write_choice(path, 7, 3.0) is True
    text = path.read_text(encoding="utf-8")
    written = json.loads(text)
    expected = json.loads(json.dumps(document))
    expected["settings"]["lre"].update(layer=7, beta=3.0)
    assert written == expected
    assert list(written) == list(document) and list(written["settings"]["lre"]) == ["rank", "n_train", "layer", "beta"]
    assert text.endswith("}\n") and '\n  "facts": [\n    {"subject": "s0", "object": "o0"},\n' in text
    suite = load_suite(path)
    assert (suite.settings.lre.layer, suite.settings.lre.beta, suite.settings.lre.rank) == (7, 3.0, 16)
    assert tune.write_choice(path, 7, 3.0) is False and path.read_text(encoding="utf-8") == text


def test_write_choice_refuses_a_suite_changed_since_it_was_tuned_and_tune_follows_folder_links(tmp_path):
    facts = [Fact(f"s{i}", f"o{i}") for i in range(6)]
    path = write_suite(tmp_path / "suites" / "s.json", suite_document(facts, shots=4))
    tuned = load_suite(path).content_hash
    # Edited (or another branch checked out) while a long tune ran: the choice was made for other facts.
    document = json.loads(path.read_text(encoding="utf-8"))
    document["facts"].reverse()
    path.write_text(json.dumps(document), encoding="utf-8")
    before = path.read_bytes()
    with pytest.raises(SuiteError, match=r"(?s)the suite changed since it was tuned.*run factcheck tune on it again"):
        tune.write_choice(path, 7, 3.0, tuned=tuned)
    assert path.read_bytes() == before
    assert tune.write_choice(path, 7, 3.0, tuned=load_suite(path).content_hash) is True
    # A folder link under a folder given to tune is followed, as pytest's collection follows it; one that loops is
    # passed over, named.
    write_suite(tmp_path / "shared" / "geo" / "g.json", suite_document(facts, shots=4))
    (tmp_path / "suites" / "geo").symlink_to(tmp_path / "shared" / "geo")
    (tmp_path / "suites" / "loop").symlink_to(".")
    (tmp_path / "suites" / "again").symlink_to(tmp_path / "suites" / "geo")  # a folder reached twice: walked once
    passed_over: list[Path] = []
    found = tune.suite_paths([str(tmp_path / "suites")], passed_over)
    assert [p.relative_to(tmp_path / "suites").as_posix() for p in found] == ["again/g.json", "s.json"]
    assert [p.name for p in passed_over] == ["loop"]
    # A suite named twice, or also below a folder named, is tuned once (tuned twice, its own first write made the second
    # refuse to write it, exit 1), under the name first given.
    named = tmp_path / "suites" / "s.json"
    twice = tune.suite_paths([str(named), str(named), str(tmp_path / "suites"), str(tmp_path / "suites" / "." / "s.json")])
    assert [p.relative_to(tmp_path / "suites").as_posix() for p in twice] == ["s.json", "again/g.json"]


def test_write_choice_through_a_link_writes_the_suite_it_names_and_keeps_its_permissions(tmp_path):
    (tmp_path / "real").mkdir()
    real = write_suite(tmp_path / "real" / "s.json", suite_document([Fact("a", "b"), Fact("c", "d")]))
    real.chmod(0o640)
    link = tmp_path / "s.json"
    link.symlink_to(real)
    assert tune.write_choice(link, 3, 2.0) is True
    assert link.is_symlink() and load_suite(real).settings.lre.layer == 3 and (real.stat().st_mode & 0o777) == 0o640


def test_settings_are_added_to_a_suite_without_them(tmp_path):
    path = write_suite(tmp_path / "s.json", suite_document([Fact("a", "b"), Fact("c", "d")]))
    tune.write_choice(path, 3, 2.5)
    assert json.loads(path.read_text())["settings"] == {"lre": {"layer": 3, "beta": 2.5}}
    assert path.read_text().endswith('  "settings": {\n    "lre": {"layer": 3, "beta": 2.5}\n  }\n}\n')


def test_the_writer_keeps_the_project_suites_byte_for_byte():
    paths = sorted(PROJECT_SUITES.rglob("*.json"))
    assert paths
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert tune.format_suite_json(json.loads(text)) == text, path


def test_a_choice_that_would_not_load_is_never_written(tmp_path):
    path = write_suite(tmp_path / "s.json", suite_document([Fact("a", "b"), Fact("c", "d")]))
    before = path.read_bytes()
    with pytest.raises(SuiteError, match="beta"):
        tune.write_choice(path, 3, 0.0)  # the schema wants beta > 0
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]  # no temporary file left behind


# ---- the command --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_suite_document(tiny_llama):
    said = said_facts(tiny_llama)  # tiny_llama has the weights of tiny_llama_folder
    assert said, "the tiny model should complete at least one word itself"
    return suite_document(TRAINING + tuple(said), shots=4, markers=["tiny"])


def test_cli_prints_the_table_and_writes_nothing_by_default_or_with_dry_run(tiny_llama_folder, cli_suite_document, tmp_path, capsys):
    path = write_suite(tmp_path / "s.json", cli_suite_document)
    before = path.read_bytes()
    for extra in ([], ["--dry-run"]):
        code = main(["tune", str(tmp_path), "--model", str(tiny_llama_folder), "--layers", "0,1", "--folds", "2", *extra])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert path.read_bytes() == before
        assert "dry run: nothing written" in out and "chosen: layer" in out
        assert re.search(r"layer +0 +strict", err) and re.search(r"layer +1 +strict", err)  # progress per layer


def test_cli_write_saves_a_loadable_choice(tiny_llama_folder, cli_suite_document, tmp_path, capsys):
    path = write_suite(tmp_path / "s.json", cli_suite_document)
    code = main(["tune", str(path), "--model", str(tiny_llama_folder), "--layers", "0,1", "--betas", "2,3", "--write"])
    out, err = capsys.readouterr()
    assert code == 0, err
    suite = load_suite(path)
    assert suite.settings.lre.layer in (0, 1) and suite.settings.lre.beta in (2.0, 3.0, DEFAULT_BETA)
    assert f"written to {path}" in out
    assert json.loads(path.read_text())["settings"]["markers"] == ["tiny"]


def test_cli_reports_a_suite_it_cannot_tune_and_writes_nothing(tiny_llama_folder, tmp_path, capsys):
    facts = TRAINING + (Fact("Spain", "Madrid"), Fact("Peru", "Lima"))  # the random model says neither
    path = write_suite(tmp_path / "s.json", suite_document(facts, shots=4))
    before = path.read_bytes()
    code = main(["tune", str(path), "--model", str(tiny_llama_folder), "--layers", "0", "--write"])
    assert code == 1
    assert "nothing to tune on" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_cli_rejects_bad_grids(tmp_path, capsys):
    path = write_suite(tmp_path / "s.json", suite_document([Fact("a", "b"), Fact("c", "d")]))
    assert main(["tune", str(path), "--layers", "4,x"]) == 2
    assert main(["tune", str(path), "--betas", "0,2"]) == 2
    assert "--betas needs positive numbers" in capsys.readouterr().err


def test_a_prompt_past_the_models_positions_is_a_tune_error_naming_the_fact(tiny_gpt2, tmp_path):
    facts = [Fact(f"s{i}", f"o{i}") for i in range(8)] + [Fact("Germany " * tiny_gpt2.context_length, "Berlin")]
    suite = parse_suite(suite_document(facts, shots=4), tmp_path / "long.json")
    with pytest.raises(tune.TuneError, match=r"/facts/8: its prompt is \d+ tokens.*lower the suite's settings.lre.n_train"):
        tune.tune_suite(tiny_gpt2, suite, layers=[0], betas=[1.0], folds=2)


def test_the_summary_names_the_embedding_layer_as_the_suite_does(tmp_path):
    suite = load_suite(write_suite(tmp_path / "s.json", suite_document([Fact("a", "b"), Fact("c", "d")])))
    score = tune.Score(strict_right=1, strict_tested=2)
    result = tune.TuneResult(suite=suite, n_train=1, folds=(), held_out=(), layer_scores={}, beta_scores={2.0: score},
                             fold0_score=score, current_layer=-1, base_beta=2.0, layer=4, beta=2.0, seconds=1.0)
    row = tune.summary_table([result]).splitlines()[1]
    assert " emb->4 " in row and "-1->" not in row
