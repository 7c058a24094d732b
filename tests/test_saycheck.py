"""Say-checks: the batched, prefix-cached path agrees with a straightforward one, at any batch size."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from factcheck.model.language_model import left_pad
from factcheck.model.packing import has_sliding_window
from factcheck.reports.records import FactRecord
from factcheck.says.matching import a_cut_may_hide_an_answer, answer_at_the_start
from factcheck.says.ranking import CandidateTrie
from factcheck.says.saycheck import SayOptions, answer_tokens, candidate_answers, run_relation
from factcheck.suites.suite import parse_suite

# Scores are compared with a reference that judges every next token: so must ranking here.
pytestmark = pytest.mark.usefixtures("judge_every_token")

CAPITALS = [
    ("France", "Paris"), ("Italy", "Rome"), ("Japan", "Tokyo"), ("Germany", "Berlin"),
    ("Spain", "Madrid"), ("Peru", "Lima"), ("Kenya", "Nairobi"), ("Chile", "Santiago"),
    ("Egypt", "Cairo"), ("India", "New Delhi"), ("Norway", "Oslo"), ("Cuba", "Havana"),
]


def capital_suite(tmp_path, facts=CAPITALS, **settings):
    document = {
        "relation": "country capital city",
        "templates": ["The capital city of {subject} is"],
        "facts": [{"subject": s, "object": o} for s, o in facts],
    }
    document["facts"][9]["aliases"] = ["Delhi"]
    if settings:
        document["settings"] = settings
    return parse_suite(document, tmp_path / "country_capital.json")


def reference_generation(model, prompt: str, max_new_tokens: int, stop_ids=None) -> str:
    """Plain greedy decoding of one unpadded prompt, no cache sharing, stopping as the say-check does (at `stop_ids`,
    by default end of text and padding)."""
    stop_ids = (model.tokenizer.eos_token_id, model.tokenizer.pad_token_id) if stop_ids is None else stop_ids
    ids = model.tokenize([prompt])[0][0]
    generated: list[int] = []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            logits = model.model(input_ids=torch.tensor([ids + generated])).logits[0, -1]
            token = int(logits.argmax())
            if token in stop_ids:
                break
            generated.append(token)
            if "\n" in model.tokenizer.decode([token]):
                break
    return model.tokenizer.decode(generated, skip_special_tokens=True).split("\n", 1)[0]


def _answer_ids(model, prompt: str, answer: str, separator: str) -> tuple[list[int], int]:
    """The ids of prompt + separator + answer, and the index of the answer's first token."""
    ids, offsets = model.tokenize([prompt + separator + answer])
    return ids[0], next(i for i, (_, end) in enumerate(offsets[0]) if end > len(prompt))


def reference_logprob(model, prompt: str, answer: str, others=(), own=(), separator: str = " ") -> float:
    """The ranking's score of `answer` from one pass over the whole text: the log-probability of separator + answer
    after the prompt, then that of not going on: with a next token of a longer candidate of the other class (`others`;
    otherwise a wrong "1" would always outscore a right "11"), or with any token that generation matching reads as
    carrying the answer on ("8" then "5"), unless it leads into a longer candidate of its own class (`own`). Every token
    of the vocabulary is judged, its text read in the whole decoded text."""
    ids, first = _answer_ids(model, prompt, answer, separator)
    with torch.no_grad():
        logprobs = torch.log_softmax(model.model(input_ids=torch.tensor([ids])).logits[0].double(), dim=-1)
    score = sum(float(logprobs[i - 1, ids[i]]) for i in range(first, len(ids)))
    own_tokens = ids[first:]

    def next_tokens(candidates):
        found = set()
        for other in candidates:
            other_ids, other_first = _answer_ids(model, prompt, other, separator)
            other_tokens = other_ids[other_first:]
            if len(other_tokens) > len(own_tokens) and other_tokens[: len(own_tokens)] == own_tokens:
                found.add(other_tokens[len(own_tokens)])
        return found

    into_other, into_own = next_tokens(others), next_tokens(own)
    decoded = model.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    carries_on = set()
    if answer_at_the_start(answer, [answer]) is not None:
        for token in range(len(model.tokenizer)):
            after = model.tokenizer.decode(ids + [token], skip_special_tokens=True, clean_up_tokenization_spaces=False)
            if answer_at_the_start(answer + after[len(decoded):], [answer]) is None:  # where it ends; qualifiers aside
                carries_on.add(token)
    going_on = into_other | (carries_on - into_own)
    if going_on:
        stop = 1.0 - float(logprobs[-1, sorted(going_on)].exp().sum())
        score += max(math.log(stop) if stop > 0 else -100.0, -100.0)
    return score


def other_class(outcome, candidate) -> list[str]:
    """The candidates of the fact that are right where `candidate` is wrong, or wrong where it is right."""
    return [c.text for c in outcome.candidates if c.correct != candidate.correct]


def same_class(outcome, candidate) -> list[str]:
    """The fact's other candidates of `candidate`'s class."""
    return [c.text for c in outcome.candidates if c.correct == candidate.correct and c.text != candidate.text]


@pytest.mark.parametrize("architecture", ["llama", "gpt2", "gemma3", "gpt_neox"])
def test_batched_path_matches_straightforward_reference(tmp_path, tiny_model_factory, architecture):
    model = tiny_model_factory(architecture)
    suite = capital_suite(tmp_path)
    options = SayOptions(shots=4, max_new_tokens=5, batch_size=5)
    outcomes = run_relation(model, suite, options)
    for outcome in outcomes:
        assert outcome.generated == reference_generation(model, outcome.prompt, options.max_new_tokens), outcome.fact
        for candidate in outcome.candidates:
            expected = reference_logprob(model, outcome.prompt, candidate.text, other_class(outcome, candidate), same_class(outcome, candidate))
            if candidate.exact:
                assert candidate.logprob == pytest.approx(expected, abs=1e-4), (outcome.fact, candidate)
            else:  # an upper bound, and not one that could change the verdict
                assert candidate.logprob >= expected - 1e-4
        best = max(outcome.candidates, key=lambda c: reference_logprob(model, outcome.prompt, c.text, other_class(outcome, c), same_class(outcome, c)))
        assert outcome.ranking_pass == best.correct


def test_training_facts_never_see_themselves(tmp_path, tiny_llama):
    suite = capital_suite(tmp_path)
    outcomes = run_relation(tiny_llama, suite, SayOptions(shots=4, max_new_tokens=1))
    for outcome in outcomes:
        lines = outcome.prompt.split("\n")
        assert not any(outcome.fact.subject in line for line in lines[:-1])
        assert lines[-1].endswith(f"{outcome.fact.subject} is")
    assert [o.is_training for o in outcomes] == [True] * 4 + [False] * (len(CAPITALS) - 4)
    assert all(len(o.prompt.split("\n")) == (4 if o.is_training else 5) for o in outcomes)


def test_a_generation_the_token_limit_cut_is_marked_and_an_answer_at_its_end_not_said(tmp_path, tiny_llama):
    suite = capital_suite(tmp_path)
    for limit in (1, 3):
        for outcome in run_relation(tiny_llama, suite, SayOptions(shots=2, max_new_tokens=limit)):
            ids = tiny_llama.tokenize([outcome.prompt])[0][0]
            tokens = []
            with torch.no_grad():
                for _ in range(limit):
                    token = int(tiny_llama.model(input_ids=torch.tensor([ids + tokens])).logits[0, -1].argmax())
                    if token in tiny_llama.stop_token_ids or "\n" in tiny_llama.tokenizer.decode([token]):
                        break
                    tokens.append(token)
            cut = len(tokens) == limit
            assert outcome.cut_may_hide_the_answer == (cut and a_cut_may_hide_an_answer(outcome.generated, outcome.fact.answers)), outcome.fact
    # The failure text advises raising the limit only where the cut may hide an answer.
    last = run_relation(tiny_llama, suite, SayOptions(shots=2, max_new_tokens=1))[-1]
    hint = "(cut by the token limit where the answer could go on: raise --factcheck-max-new-tokens)"
    for hides in (True, False):
        cut = dataclasses.replace(last, generated=" Santiago", matched_answer=None, cut_may_hide_the_answer=hides)
        assert (hint in FactRecord(suite=suite, outcome=cut, say_check="generation").explain()) == hides
    # An answer named later in the line is pointed out: generation judges only how the text begins.
    later = dataclasses.replace(last, generated=f" It is {last.fact.object}.", matched_answer=None)
    assert f"(names {last.fact.object!r} later, not as its answer" in FactRecord(suite=suite, outcome=later, say_check="generation").explain()
    # A qualified answer names the word that qualifies it.
    hedged = dataclasses.replace(last, generated=f" {last.fact.object}, I think, or {last.fact.object}.", matched_answer=None)
    text = FactRecord(suite=suite, outcome=hedged, say_check="generation").explain()
    assert "(qualified by 'I think' after the answer" in text and "later, not as its answer" not in text
    # One that the rules leave unsaid for what follows it, with no word to name, says what it began with.
    for generated in (f" {last.fact.object} or Lyon", f" {last.fact.object}-Bissau"):
        carried = dataclasses.replace(last, generated=generated, matched_answer=None)
        text = FactRecord(suite=suite, outcome=carried, say_check="generation").explain()
        assert f"(begins with {last.fact.object!r}, but what follows carries it on" in text, text


def _suite_of(tmp_path, facts):
    return parse_suite({"relation": "r", "templates": ["The capital city of {subject} is"],
                        "facts": [{"subject": s, "object": o} for s, o in facts]}, tmp_path / "suites" / "r.json")


def test_ranking_decides_nothing_without_a_wrong_candidate(tmp_path, tiny_llama):
    suite = _suite_of(tmp_path, [("France", "Europe"), ("Italy", "Europe"), ("Japan", "Europe")])
    for outcome in run_relation(tiny_llama, suite, SayOptions(shots=1, max_new_tokens=2)):
        assert [c.correct for c in outcome.candidates] == [True] and not outcome.ranking_pass and outcome.margin is None
        text = FactRecord(suite=suite, outcome=outcome, say_check="ranking").explain()
        assert "ranking    : FAIL (no wrong candidate to rank against" in text


def test_a_candidate_in_another_case_is_the_same_answer_not_a_wrong_one(tmp_path, tiny_llama):
    suite = _suite_of(tmp_path, [("Italy", "Rome"), ("Vatican", "rome"), ("Holy See", "ROME"), ("Peru", "Lima")])
    for outcome in run_relation(tiny_llama, suite, SayOptions(shots=1, max_new_tokens=2)):
        right = {c.text for c in outcome.candidates if c.correct}
        assert right == ({"Lima"} if outcome.fact.subject == "Peru" else {"Rome", "rome", "ROME"}), outcome.fact


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_model_giving_nan_or_infinite_scores_is_one_error_not_a_ranking(tmp_path, tiny_llama, value):
    import copy

    from factcheck.says.saycheck import ModelOutputError

    # The 45th pass: logits past float16's range are infinite, not NaN: facts passed on margins of NaN.
    broken = copy.copy(tiny_llama)
    broken.model = copy.deepcopy(tiny_llama.model)
    if value != value:
        with torch.no_grad():
            broken.model.model.layers[1].mlp.down_proj.weight.fill_(value)
    else:  # one token's score past the dtype's range
        broken.model.lm_head.register_forward_hook(lambda module, inputs, output: output.index_fill(-1, torch.tensor([3]), value))
    with pytest.raises(ModelOutputError, match="gives NaN or infinite scores for this relation's prompts") as caught:
        run_relation(broken, capital_suite(tmp_path), SayOptions(shots=2, max_new_tokens=2))
    # In float32 already, no other dtype helps: the message does not send the user to one.
    assert broken.dtype == torch.float32 and "float32" not in str(caught.value) and "load or convert them again" in str(caught.value)


def test_tokens_a_model_rules_out_score_a_finite_floor_so_margins_stay_numbers(tmp_path, tiny_llama):
    import copy
    import json
    import math

    # The 46th pass: logits of -inf (a masked token; float16 below -65,504) gave margins and scores of -inf and inf,
    # and the JSON report held -Infinity, which `factcheck diff` refused as damaged.
    masked = copy.copy(tiny_llama)
    masked.model = copy.deepcopy(tiny_llama.model)
    vocabulary = masked.model.config.vocab_size
    ruled_out = torch.arange(3, vocabulary, 2)
    masked.model.lm_head.register_forward_hook(lambda module, inputs, output: output.index_fill(-1, ruled_out, float("-inf")))
    outcomes = run_relation(masked, capital_suite(tmp_path), SayOptions(shots=2, max_new_tokens=2))
    scores = [c.logprob for o in outcomes for c in o.candidates] + [o.margin for o in outcomes if o.margin is not None]
    assert scores and all(math.isfinite(score) for score in scores)
    assert any(score <= -1e29 for score in scores)  # a ruled-out candidate scores the floor, below every real score
    json.dumps(scores, allow_nan=False)


def test_zero_shot_prompts_hold_only_the_question(tmp_path, tiny_llama):
    suite = capital_suite(tmp_path)
    outcomes = run_relation(tiny_llama, suite, SayOptions(shots=0, max_new_tokens=2))
    assert all(o.prompt == tiny_llama.bos_text + f"The capital city of {o.fact.subject} is" for o in outcomes)
    assert not any(o.is_training for o in outcomes)


@pytest.mark.parametrize("architecture", ["llama", "gpt2"])
def test_verdicts_do_not_depend_on_batch_size(tmp_path, tiny_model_factory, architecture):
    model = tiny_model_factory(architecture)
    suite = capital_suite(tmp_path)
    one = run_relation(model, suite, SayOptions(shots=3, max_new_tokens=4, batch_size=1))
    sixteen = run_relation(model, suite, SayOptions(shots=3, max_new_tokens=4, batch_size=16))
    for a, b in zip(one, sixteen):
        assert (a.generated, a.generation_pass, a.ranking_pass) == (b.generated, b.generation_pass, b.ranking_pass)
        assert a.margin == pytest.approx(b.margin, abs=1e-4)


def test_candidates_are_the_relations_objects_plus_the_facts_aliases(tmp_path):
    suite = capital_suite(tmp_path)
    india = suite.facts[9]
    assert candidate_answers(suite, india) == [o for _, o in CAPITALS] + ["Delhi"]
    assert candidate_answers(suite, suite.facts[0]) == [o for _, o in CAPITALS]


def test_candidates_hold_every_spelling_generation_accepts_of_each_answer(tmp_path, tiny_llama):
    document = {"relation": "book author", "templates": ["{subject} was written by"],
                "facts": [{"subject": "The Hobbit", "object": "J. R. R. Tolkien"}, {"subject": "Narnia", "object": "C.S. Lewis"},
                          {"subject": "A marathon", "object": "42 km", "aliases": ["26 miles"]}]}
    suite = parse_suite(document, tmp_path / "book_author.json")
    # A wrong answer is ranked in the spelling the model may prefer as well: "J.R.R. Tolkien" beats "C.S. Lewis" only
    # if both are scored.
    assert candidate_answers(suite, suite.facts[1]) == ["J. R. R. Tolkien", "J.R.R. Tolkien", "C.S. Lewis", "C. S. Lewis",
                                                        "42 km", "42km"]
    assert candidate_answers(suite, suite.facts[2])[-3:] == ["42 km", "42km", "26 miles"]
    [outcome] = run_relation(tiny_llama, suite, SayOptions(shots=0, max_new_tokens=2), only=[1])
    spelled = {c.text: c.correct for c in outcome.candidates}
    assert spelled == {"J. R. R. Tolkien": False, "J.R.R. Tolkien": False, "C.S. Lewis": True, "C. S. Lewis": True,
                       "42 km": False, "42km": False}
    # The fact's own answer in another spelling is right, not a wrong candidate to beat.
    [marathon] = run_relation(tiny_llama, suite, SayOptions(shots=0, max_new_tokens=2), only=[2])
    assert {c.text: c.correct for c in marathon.candidates if "km" in c.text} == {"42 km": True, "42km": True}


def metaspace_tokenizer():
    """A Llama-style (SentencePiece-like, metaspace) tokenizer, to check the leading-space split."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Metaspace()
    core.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False)
    core.train_from_iterator(["The capital city of France is Paris", "New Delhi and Rome and Tokyo"] * 5, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


@pytest.mark.parametrize("kind", ["byte_level", "metaspace"])
def test_answer_tokens_split_at_the_prompt_boundary(tiny_model_factory, tiny_tokenizer, kind):
    tokenizer = tiny_tokenizer if kind == "byte_level" else metaspace_tokenizer()
    model = tiny_model_factory("llama", tokenizer=tokenizer)
    prompt = model.bos_text + "The capital city of France is"
    prompt_ids = model.tokenize([prompt])[0][0]
    answers = ["Paris", "New Delhi", "Rome"]
    for answer, tokens in zip(answers, answer_tokens(model, prompt, prompt_ids, answers)):
        assert tokens, answer
        whole = model.tokenize([f"{prompt} {answer}"])[0][0]
        assert prompt_ids + tokens == whole
        assert model.tokenizer.decode(tokens).strip() == answer
        # The space belongs to the answer's first token, not to the prompt.
        first_piece = model.tokenizer.convert_ids_to_tokens(tokens[:1])[0]
        assert first_piece.startswith("Ġ" if kind == "byte_level" else "▁"), first_piece


@pytest.mark.parametrize("kind", ["byte_level", "metaspace"])
def test_tokenize_gives_what_the_tokenizer_call_gives(tiny_model_factory, tiny_tokenizer, kind):
    # model.tokenize calls the Rust tokenizer directly (much faster for thousands of candidates).
    tokenizer = tiny_tokenizer if kind == "byte_level" else metaspace_tokenizer()
    model = tiny_model_factory("llama", tokenizer=tokenizer)
    assert model.tokenizer.backend_tokenizer is not None
    texts = [model.bos_text + "The capital city of Zürich is", "東京 and Rome", "", "  spaced  out ", "emoji 🙂 here\nNew Delhi"]
    expected = model.tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = model.tokenize(texts)
    assert ids == expected["input_ids"]
    assert offsets == [[tuple(o) for o in row] for row in expected["offset_mapping"]]


def test_left_pad_positions_count_only_real_tokens():
    encoded = left_pad([[5, 6, 7], [8]], pad_id=0)
    assert encoded.input_ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert encoded.attention_mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert encoded.position_ids.tolist() == [[0, 1, 2], [0, 0, 0]]


@pytest.mark.slow
def test_smollm2_says_paris_and_ranks_with_the_llama_tokenizer(tmp_path, smollm2):
    suite = capital_suite(tmp_path)
    outcomes = {o.fact.subject: o for o in run_relation(smollm2, suite, SayOptions(shots=8))}
    assert outcomes["Norway"].generated.strip().startswith("Oslo")
    assert outcomes["Norway"].generation_pass and outcomes["Norway"].ranking_pass
    assert outcomes["India"].candidates[0].text in ("New Delhi", "Delhi")
    prompt = outcomes["India"].prompt
    ids = smollm2.tokenize([prompt])[0][0]
    (tokens,) = answer_tokens(smollm2, prompt, ids, ["New Delhi"])
    assert smollm2.tokenizer.decode(tokens) == " New Delhi"


def test_distracted_prompts_put_a_false_statement_before_the_question(tmp_path, tiny_llama):
    from factcheck.suites.suite import DistractorSettings

    suite = capital_suite(tmp_path)
    distractor = DistractorSettings(statement="{subject} has {wrong} as its capital.", repeat=2)
    outcomes = run_relation(tiny_llama, suite, SayOptions(shots=3, max_new_tokens=2, distractor=distractor), capture_layers=[1])
    for index, outcome in enumerate(outcomes):
        question = outcome.prompt.rsplit("\n", 1)[-1]
        subject = outcome.fact.subject
        lead, asked = question.split(f"The capital city of {subject} is")
        statements = [s.strip() for s in lead.split(".") if s.strip()]
        assert len(statements) == 2 and len(set(statements)) == 1
        wrong = statements[0].removeprefix(f"{subject} has ").removesuffix(" as its capital")
        assert wrong in {o for _, o in CAPITALS} and wrong not in outcome.fact.answers
        assert asked == "" and 1 in outcome.subject_states


@pytest.mark.parametrize("architecture, sliding", [("llama", False), ("gpt2", False), ("gpt_neox", False), ("gemma3", True)])
def test_sliding_window_models_are_told_apart(tiny_model_factory, architecture, sliding):
    # They decide whether rows of different shapes may share a batch (see _run_rows).
    assert has_sliding_window(tiny_model_factory(architecture)) is sliding


def test_candidates_sharing_their_first_tokens_are_scored_exactly(tmp_path, tiny_llama, monkeypatch):
    # Names share first tokens; their shared slots and logits must give each the score it has alone.
    # With the bars at -inf every multi-token candidate is scored in full.
    monkeypatch.setattr(CandidateTrie, "bar", lambda self, correct: float("-inf"))
    mothers = ["Mary Ball Washington", "Mary Arden", "Mary Ball", "Anne Hathaway", "Anne Boleyn", "Maria Theresa"]
    facts = [(f"Person {i}", mother) for i, mother in enumerate(mothers)]
    document = {
        "relation": "person mother",
        "templates": ["The mother of {subject} is"],
        "facts": [{"subject": s, "object": o} for s, o in facts],
    }
    suite = parse_suite(document, tmp_path / "person_mother.json")
    outcomes = run_relation(tiny_llama, suite, SayOptions(shots=2, max_new_tokens=2, margin_runs=None))
    for outcome in outcomes:
        assert all(candidate.exact for candidate in outcome.candidates)
        for candidate in outcome.candidates:
            assert candidate.logprob == pytest.approx(reference_logprob(tiny_llama, outcome.prompt, candidate.text, other_class(outcome, candidate), same_class(outcome, candidate)), abs=1e-4)


MOTHERS = [
    "Mary Ball Washington", "Mary Arden", "Mary Ball", "Anne Hathaway", "Anne Boleyn", "Maria Theresa", "Abigail Smith",
    "Nancy Hanks", "Jane Knox", "Martha Bulloch", "Sara Delano", "Rose Fitzgerald", "Ida Stover", "Hannah Milhous",
]


@pytest.mark.parametrize("margin_runs", [0, 3, None])
def test_verdicts_are_exact_and_margins_exact_or_bounded_towards_zero(tmp_path, tiny_llama, margin_runs):
    # Past `margin_runs` node runs per fact only the verdict is settled; a margin left as a bound must lie
    # between zero and the true margin.
    document = {
        "relation": "person mother",
        "templates": ["The mother of {subject} is"],
        "facts": [{"subject": f"Person {i}", "object": mother} for i, mother in enumerate(MOTHERS)],
    }
    suite = parse_suite(document, tmp_path / "person_mother.json")
    outcomes = run_relation(tiny_llama, suite, SayOptions(shots=2, max_new_tokens=2, margin_runs=margin_runs))
    bounded = 0
    for outcome in outcomes:
        reference = {c.text: reference_logprob(tiny_llama, outcome.prompt, c.text, other_class(outcome, c), same_class(outcome, c)) for c in outcome.candidates}
        right = max(score for text, score in reference.items() if text in outcome.fact.answers)
        wrong = max(score for text, score in reference.items() if text not in outcome.fact.answers)
        assert outcome.ranking_pass == (right > wrong), outcome.fact
        if outcome.margin_is_exact:
            assert outcome.margin == pytest.approx(right - wrong, abs=1e-4), outcome.fact
        else:
            bounded += 1
            low, high = sorted([0.0, right - wrong])
            assert low - 1e-4 <= outcome.margin <= high + 1e-4, outcome.fact
    if margin_runs is None:
        assert bounded == 0
    if margin_runs == 0:
        assert bounded > 0  # the test sees bounded margins at all


def test_a_right_answer_scored_exactly_as_a_wrong_one_is_not_ranked_first(tmp_path, tiny_llama):
    from factcheck.says.ranking import Candidate

    outcome = run_relation(tiny_llama, capital_suite(tmp_path), SayOptions(shots=2, max_new_tokens=2))[0]
    # A collapsed model scores every candidate alike: the order is only that of sorting, and no win.
    tied = [Candidate(text="Paris", logprob=-11.19, correct=True, exact=True, first_token=1),
            Candidate(text="Rome", logprob=-11.19, correct=False, exact=True, first_token=2)]
    assert not dataclasses.replace(outcome, candidates=tied).ranking_pass
    ahead = [dataclasses.replace(tied[0], logprob=-11.0), tied[1]]
    assert dataclasses.replace(outcome, candidates=ahead).ranking_pass
