"""The session alone: one run per relation, settings resolved in one order, a failed relation not retried, one result per fact."""

from __future__ import annotations

import json

import pytest
import torch

from factcheck.errors import SettingError
from factcheck.gate.baseline import parse_baseline
from factcheck.gate.comparison import STILL_RIGHT
from factcheck.gate.release_gate import ReleaseGate
from factcheck.fact_result import FactResult
from factcheck.session import FactcheckSession
from factcheck.settings import DEFAULTS, Settings, resolve
from factcheck.suites.suite import SuiteError, parse_suite

CAPITALS = [("France", "Paris"), ("Italy", "Rome"), ("Japan", "Tokyo"), ("Germany", "Berlin"), ("Spain", "Madrid"), ("Peru", "Lima")]


def suite_of(tmp_path, name="country_capital", **settings):
    document = {"relation": "country capital city", "templates": ["The capital city of {subject} is"],
                "facts": [{"subject": s, "object": o} for s, o in CAPITALS]}
    if settings:
        document["settings"] = settings
    return parse_suite(document, tmp_path / "suites" / f"{name}.json")


def quiet_session(model, command_line=Settings(), ini=Settings()) -> FactcheckSession:
    session = FactcheckSession(command_line, ini, progress=lambda message: None)
    session.use_model(model)
    return session


# ---- settings -------------------------------------------------------------------------------

def test_command_line_beats_suite_beats_ini_beats_defaults(tiny_llama, tmp_path):
    suite = suite_of(tmp_path, shots=3, max_new_tokens=5)
    plain = suite_of(tmp_path, name="plain")
    ini = Settings(shots=2, max_new_tokens=4, say_check="ranking")
    session = quiet_session(tiny_llama, Settings(shots=4), ini)
    options, say_check = session.options_for(suite)
    assert (options.shots, options.max_new_tokens, say_check) == (4, 5, "ranking")
    options, say_check = quiet_session(tiny_llama, Settings(), ini).options_for(plain)
    assert (options.shots, options.max_new_tokens, options.batch_size) == (2, 4, DEFAULTS.batch_size)
    options, say_check = quiet_session(tiny_llama).options_for(plain)
    assert (options.shots, options.max_new_tokens, say_check) == (DEFAULTS.shots, DEFAULTS.max_new_tokens, DEFAULTS.say_check)


def test_resolve_takes_the_first_source_that_gives_a_value():
    resolved = resolve(Settings(shots=1), Settings(shots=2, dtype="bfloat16"), Settings(dtype="float16", device="cuda"))
    assert (resolved.shots, resolved.dtype, resolved.device, resolved.require) == (1, "bfloat16", "cuda", DEFAULTS.require)
    assert resolve().trust_remote_code is False and resolve(Settings(), Settings(trust_remote_code=True)).trust_remote_code is True
    # Zero is a value (zero-shot prompts), not 'not given'.
    assert resolve(Settings(shots=0), Settings(shots=4)).shots == 0 and resolve(Settings(), Settings(shots=0)).shots == 0


def test_a_suite_asking_for_zero_shots_gets_zero(tiny_llama, tmp_path):
    options, _ = quiet_session(tiny_llama).options_for(suite_of(tmp_path, shots=0))
    assert options.shots == 0
    options, _ = quiet_session(tiny_llama, Settings(shots=0)).options_for(suite_of(tmp_path, shots=3))
    assert options.shots == 0


# ---- running relations ----------------------------------------------------------------------

def test_a_relation_runs_once_and_each_fact_has_one_record_and_one_result(tiny_llama, tmp_path, monkeypatch):
    session = quiet_session(tiny_llama, Settings(shots=2))
    suite = suite_of(tmp_path)
    calls = []
    original = session._run_relation
    monkeypatch.setattr(session, "_run_relation", lambda s, wanted: calls.append(s) or original(s, wanted))
    first = session.record_for(suite, 3)
    again = session.record_for(suite, 3)
    session.record_for(suite, 0)
    assert len(calls) == 1
    assert again is first and again.result is first.result
    assert isinstance(first.result, FactResult) and first.result.key == ("country_capital", "Germany")
    # Only the facts asked for are reported, in suite order.
    assert [r.fact.subject for r in session.all_records()] == ["France", "Germany"]


def test_a_relation_that_cannot_run_fails_every_fact_with_one_error_and_is_not_retried(tiny_llama, tmp_path, monkeypatch):
    session = quiet_session(tiny_llama, Settings(shots=2))
    suite = suite_of(tmp_path, lre={"layer": 7})  # the tiny model has 2 blocks
    calls = []
    original = session._run_relation
    monkeypatch.setattr(session, "_run_relation", lambda s, wanted: calls.append(s) or original(s, wanted))
    errors = []
    for index in range(3):
        with pytest.raises(SettingError, match="layer 7 is out of range") as caught:
            session.record_for(suite, index)
        errors.append(caught.value)
    assert len(calls) == 1 and errors[0] is errors[1] is errors[2]
    assert session.runs() == [] and session.all_records() == []


def test_any_failure_of_a_relation_is_remembered_not_retried_per_fact(tiny_llama, tmp_path, monkeypatch):
    session = quiet_session(tiny_llama, Settings(shots=2))
    calls = []

    def broken(suite, wanted):
        calls.append(suite)
        raise PermissionError(13, "Permission denied", "/somewhere")

    monkeypatch.setattr(session, "_run_relation", broken)
    for index in range(3):
        with pytest.raises(PermissionError):
            session.record_for(suite_of(tmp_path), index)
    assert len(calls) == 1


def test_an_unwritable_lre_cache_is_said_once_and_the_lre_used_from_memory(tiny_llama, tmp_path, monkeypatch):
    import warnings

    from factcheck.cache import FactcheckWarning

    blocked = tmp_path / "cache-is-a-file"
    blocked.write_text("not a folder")  # root can write anywhere: a file where the folder should be cannot be written
    monkeypatch.setenv("FACTCHECK_CACHE", str(blocked))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("error")  # the user's -W error must not turn it into a failure
        run = quiet_session(tiny_llama, Settings(shots=2)).run(suite_of(tmp_path))
        again = quiet_session(tiny_llama, Settings(shots=2)).run(suite_of(tmp_path, name="other"))
    said = [w for w in caught if issubclass(w.category, FactcheckWarning)]
    assert len(said) == 1 and "cannot write LRE results to the cache folder" in str(said[0].message)
    assert run.lre is not None and run.knows is not None and again.lre is not None
    assert blocked.read_text() == "not a folder"


def test_more_shots_than_facts_runs_without_an_lre_and_says_why(tiny_llama, tmp_path):
    run = quiet_session(tiny_llama, Settings(shots=len(CAPITALS) + 1)).run(suite_of(tmp_path))
    assert run.lre is None and "no LRE" in run.lre_skipped
    assert all(record.result.know is None for record in run.records)


def test_the_gate_judges_each_fact_once_and_the_comparison_reuses_it(tiny_llama, tmp_path, monkeypatch):
    import factcheck.gate.comparison as comparison

    session = quiet_session(tiny_llama, Settings(shots=2))
    suite = suite_of(tmp_path)
    results = [session.record_for(suite, index).result for index in range(len(CAPITALS))]
    # A baseline in which every fact was said right: this run's wrong answers are its regressions.
    said_right = {"say_pass": True, "generation_pass": True, "ranking_pass": True, "know_pass": None, "verdict": None,
                  "margin": None, "training": False}
    document = {"factcheck_baseline_version": 2, "model": {"name": "tiny", "fingerprint": "x"},
                "suites": {"country_capital": {"content_hash": suite.content_hash, "path": "suites/country_capital.json"}},
                "facts": {"country_capital": {r.subject: {"object": r.object, **said_right} for r in results}}}
    gate = ReleaseGate(parse_baseline(document))
    judged = [gate.judge(r) for r in results]
    assert [c.kind == STILL_RIGHT for c in judged] == [r.say_pass for r in results]
    assert all(c.is_regression for c, r in zip(judged, results) if not r.say_pass)

    def classed_again(*args):
        raise AssertionError("a fact judged during the run was classed again")

    monkeypatch.setattr(comparison, "classify", classed_again)
    outcome = gate.comparison({"name": "tiny", "fingerprint": "x"}, {}, results)
    assert outcome.changes == sorted(judged, key=lambda c: c.subject)  # the comparison lists facts by relation, then subject


def test_suite_text_holding_a_control_token_of_the_model_fails_the_relation_naming_where(tiny_llama, tmp_path):
    from factcheck.suites.suite import SuiteError

    control = tiny_llama.tokenizer.eos_token
    assert control and control in tiny_llama.control_token_texts
    document = {"relation": "country capital city", "templates": ["The capital city of {subject} is"],
                "facts": [{"subject": s, "object": o} for s, o in CAPITALS]}
    document["facts"][2]["subject"] = f"Japan{control}"
    document["facts"][4]["aliases"] = [f"Madrid{control}"]
    suite = parse_suite(document, tmp_path / "suites" / "capitals.json")
    with pytest.raises(SuiteError) as caught:
        quiet_session(tiny_llama, Settings(shots=2)).record_for(suite, 0)
    message = str(caught.value)
    assert "/facts/2/subject" in message and "/facts/4/aliases/0" in message and repr(control) in message
    assert "control token" in message and "capitals.json" in message
    # The same suite without them runs.
    assert quiet_session(tiny_llama, Settings(shots=2)).record_for(suite_of(tmp_path), 0) is not None



def test_suite_text_the_models_tokenizer_cannot_write_fails_the_relation_naming_where(tiny_model_factory, tiny_tokenizer, tmp_path):
    # The 39th pass: a byte-level vocabulary without the bytes past ASCII (no byte fallback, no unknown token) dropped
    # "ô" of "Côte d'Ivoire" and all of "日本", and the facts ran on other text without a word.
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    from factcheck.suites.suite import SuiteError

    # The byte-level alphabet's characters for the bytes past ASCII: a byte that is printable stands for itself, the
    # others for 256 onwards, in byte order.
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    others = [byte for byte in range(256) if byte not in printable]
    past_ascii = {chr(byte) for byte in printable if byte >= 0x80} | {chr(256 + n) for n, byte in enumerate(others) if byte >= 0x80}
    data = json.loads(tiny_tokenizer.backend_tokenizer.to_str())
    data["model"]["vocab"] = {token: index for token, index in data["model"]["vocab"].items()
                              if index < 3 or not past_ascii.intersection(token)}
    data["model"]["merges"] = [merge for merge in data["model"]["merges"]
                               if not past_ascii.intersection("".join(merge) if isinstance(merge, list) else merge)]
    bos, eos, pad = tiny_tokenizer.bos_token, tiny_tokenizer.eos_token, tiny_tokenizer.pad_token
    ascii_only = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(data)), bos_token=bos, eos_token=eos,
                                         pad_token=pad)
    model = tiny_model_factory("llama", tokenizer=ascii_only, vocab_size=len(tiny_tokenizer))  # ids kept as they were
    document = {"relation": "country capital city", "templates": ["The capital city of {subject} is"],
                "facts": [{"subject": s, "object": o} for s, o in CAPITALS]}
    document["facts"][1]["subject"] = "Côte d'Ivoire"
    document["facts"][3]["aliases"] = ["東京"]
    document["facts"][5]["aliases"] = ["Rome\u00a0City"]  # the 40th pass: a dropped no-break space ("RomeCity")
    suite = parse_suite(document, tmp_path / "suites" / "capitals.json")
    with pytest.raises(SuiteError) as caught:
        quiet_session(model, Settings(shots=2)).record_for(suite, 0)
    message = str(caught.value)
    assert "/facts/1/subject: \"Côte d'Ivoire\" is read by this model's tokenizer as \"Cte d'Ivoire\" (its vocabulary lacks 'ô')" in message
    assert "/facts/3/aliases/0" in message and "write the text in characters this model's tokenizer has" in message
    assert "/facts/5/aliases/0: 'Rome\\xa0City' is read by this model's tokenizer as 'RomeCity'" in message
    # The same suite in ASCII runs.
    assert quiet_session(model, Settings(shots=2)).record_for(suite_of(tmp_path), 0) is not None


def test_a_control_token_made_where_a_subject_meets_its_template_fails_the_relation(tiny_llama, tmp_path):
    from factcheck.suites.suite import SuiteError

    control = tiny_llama.tokenizer.eos_token
    head, tail = control[: len(control) // 2], control[len(control) // 2 :]
    document = {"relation": "country capital city", "templates": ["The capital city of {subject}" + tail + " is"],
                "facts": [{"subject": s, "object": o} for s, o in CAPITALS]}
    document["facts"][3]["subject"] += head
    suite = parse_suite(document, tmp_path / "suites" / "capitals.json")
    with pytest.raises(SuiteError) as caught:
        quiet_session(tiny_llama, Settings(shots=2)).record_for(suite, 0)
    message = str(caught.value)
    assert "/facts/3/subject" in message and "/templates/0" in message and repr(control) in message
    assert "/facts/2/subject" not in message  # the other subjects make no control token with it


def test_a_prompt_longer_than_the_models_positions_fails_its_relation_naming_the_fact(tiny_gpt2, tmp_path):
    limit = tiny_gpt2.context_length
    document = {"relation": "country capital city", "templates": ["The capital city of {subject} is"],
                "facts": [{"subject": s, "object": o} for s, o in CAPITALS] + [{"subject": "Germany " * limit + "East", "object": "Berlin"}]}
    suite = parse_suite(document, tmp_path / "suites" / "long.json")
    with pytest.raises(SuiteError) as caught:
        quiet_session(tiny_gpt2, Settings(shots=2)).run(suite)
    assert [pointer for pointer, _ in caught.value.problems] == [f"/facts/{len(CAPITALS)}"]
    assert f"more than the model's {limit} positions" in str(caught.value) and "shorten the subject" in str(caught.value)
    assert quiet_session(tiny_gpt2, Settings(shots=2)).run(suite_of(tmp_path)).outcomes  # the others fit
    # A token limit past the model's positions: the fix names it too.
    with pytest.raises(SuiteError) as caught:
        quiet_session(tiny_gpt2, Settings(shots=2, max_new_tokens=10**8)).run(suite_of(tmp_path))
    assert "lower --factcheck-shots" in str(caught.value) and "--factcheck-max-new-tokens" in str(caught.value)


@pytest.mark.parametrize("change", ["a weight", "a buffer no checkpoint keeps", "a module's hook", "a hook on every module"])
def test_a_model_a_test_changed_in_place_fails_the_relations_after_it(tiny_llama, tmp_path, change):
    import copy

    from factcheck.errors import ModelChangedError

    model = copy.copy(tiny_llama)
    model.model = copy.deepcopy(tiny_llama.model)
    session = quiet_session(model, Settings(shots=2, lre="off"))
    handed = session.model_for_a_test()
    session._refuse_a_changed_model()  # as handed out: nothing changed
    undo = lambda: None  # noqa: E731
    with torch.no_grad():
        if change == "a weight":
            handed.model.model.layers[0].mlp.down_proj.weight.zero_()
        elif change == "a buffer no checkpoint keeps":  # RoPE's inverse frequencies: not in state_dict()
            handed.model.model.rotary_emb.inv_freq.mul_(0.0)
        elif change == "a module's hook":
            undo = handed.model.model.layers[0].register_forward_hook(lambda module, args, output: output).remove
        else:
            undo = torch.nn.modules.module.register_module_forward_hook(lambda module, args, output: output).remove
    try:
        with pytest.raises(ModelChangedError, match="was changed in place after a test took it through the factcheck_model fixture"):
            session.run(suite_of(tmp_path))
    finally:
        undo()
