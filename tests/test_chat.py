"""Chat prompts: facts asked through the model's chat template, demonstrations as earlier turns, answers as replies."""

from __future__ import annotations

import copy
import threading
import json

import pytest
import torch

from factcheck.errors import SettingError
from factcheck.knows.lre_cache import cache_key
from factcheck.model.language_model import LanguageModel
from factcheck.reports.records import FactRecord
from factcheck.says.saycheck import SayOptions, answer_tokens, run_relation
from factcheck.session import FactcheckSession
from factcheck.settings import Settings
from factcheck.suites.prompts import REPLY_PROBE, Phrasing, build_chat_prompt, phrase_prompt, reply_separator, subject_token_index
from factcheck.suites.suite import Fact, SuiteError, parse_suite
from conftest import TINY_CHAT_TEMPLATE
from test_saycheck import other_class, reference_generation, reference_logprob, same_class

# Scores are compared with a reference that judges every next token: so must ranking here.
pytestmark = pytest.mark.usefixtures("judge_every_token")

CAPITALS = [("France", "Paris"), ("Italy", "Rome"), ("Japan", "Tokyo"), ("Germany", "Berlin"), ("Spain", "Madrid"),
            ("Peru", "Lima"), ("Kenya", "Nairobi"), ("Chile", "Santiago")]
TEMPLATE = "The capital city of {subject} is"


@pytest.fixture(scope="module")
def chat_model(tiny_chat_llama) -> LanguageModel:
    return tiny_chat_llama


def suite_of(tmp_path, name="capital", **settings):
    document = {"relation": "capital", "templates": [TEMPLATE], "facts": [{"subject": s, "object": o} for s, o in CAPITALS]}
    if settings:
        document["settings"] = settings
    return parse_suite(document, tmp_path / "suites" / f"{name}.json")


def test_demonstrations_are_earlier_turns_and_the_subject_is_found_in_the_last_one():
    rendered = []

    def render(messages):
        rendered.append(messages)
        return "".join(f"[{m['role']}] {m['content']} [end]\n" for m in messages) + "[assistant] "

    prompt = build_chat_prompt(render, Phrasing("Capital of {subject}, Peru or not?", chat=True, system="Be brief."),
                               "Peru", [Fact("France", "Paris"), Fact("Peru", "Lima")])
    assert rendered[0] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France, Peru or not?"}, {"role": "assistant", "content": "Paris"},
        {"role": "user", "content": "Capital of Peru, Peru or not?"},
    ]  # a fact is never its own demonstration
    assert prompt.answer_separator == "" and prompt.text.endswith("[assistant] ")
    # The subject's occurrence in the question's placeholder, not a later word of the template nor a demonstration.
    assert prompt.text[prompt.subject_end - len("Peru"):prompt.subject_end] == "Peru"
    assert prompt.subject_end == prompt.text.rfind("[user] Capital of Peru") + len("[user] Capital of Peru")


def test_a_chat_template_that_changes_the_question_is_refused_with_the_fix():
    with pytest.raises(SettingError, match=r"changed the question .* \(prompt: text\)"):
        build_chat_prompt(lambda messages: "".join(m["content"].upper() for m in messages), Phrasing(TEMPLATE, chat=True),
                          "Peru", [])


def test_a_chat_template_writing_special_tokens_past_the_embedding_is_refused_with_the_fix(tiny_llama):
    # tokenizer_config.json naming <|im_start|> and <|im_end|>, which the vocabulary lacks: transformers adds them past
    # the weights' rows, and every chat prompt was a raw IndexError from torch.
    tokenizer = copy.deepcopy(tiny_llama.tokenizer)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tokenizer.chat_template = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
                               "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    model = LanguageModel(tiny_llama.model, tokenizer, name="tiny-past")
    with pytest.raises(SettingError, match=r"writes '<\|im_start\|>', '<\|im_end\|>', special token\(s\) its tokenizer adds "
                                           r"past the \d+ tokens its weights embed .* or ask with `prompt: text`"):
        phrase_prompt(model, Phrasing(TEMPLATE, chat=True), "Peru", [])
    tokenizer.chat_template = TINY_CHAT_TEMPLATE  # the same tokenizer, with a template of embedded tokens: asked
    assert "Peru" in phrase_prompt(model, Phrasing(TEMPLATE, chat=True), "Peru", []).text


def test_a_model_without_a_chat_template_says_so_and_names_the_setting(tiny_llama):
    with pytest.raises(SettingError, match="has no chat template .*--factcheck-prompt=text"):
        phrase_prompt(tiny_llama, Phrasing(TEMPLATE, chat=True), "Peru", [])


def test_the_chat_say_check_matches_a_straightforward_reply_loop(tmp_path, chat_model):
    suite = suite_of(tmp_path, prompt="chat")
    outcomes = run_relation(chat_model, suite, SayOptions(shots=3, max_new_tokens=4, batch_size=3))
    for outcome in outcomes:
        assert outcome.prompt.endswith("<|bos|>assistant\n") and outcome.answer_separator == ""
        assert f"<|bos|>user\n{TEMPLATE.replace('{subject}', outcome.fact.subject)}<|eos|>" in outcome.prompt
        # The reply ends at the end of the assistant's turn (or a newline).
        assert outcome.generated == reference_generation(chat_model, outcome.prompt, 4, chat_model.stop_token_ids), outcome.fact
        for candidate in outcome.candidates:
            if candidate.exact:
                assert candidate.logprob == pytest.approx(reference_logprob(chat_model, outcome.prompt, candidate.text, other_class(outcome, candidate), same_class(outcome, candidate), separator=""), abs=1e-4)


def test_a_chat_failure_shows_the_question_turn_not_the_assistant_opening(tmp_path, chat_model):
    suite = suite_of(tmp_path, prompt="chat")
    outcome = run_relation(chat_model, suite, SayOptions(shots=3, max_new_tokens=2))[-1]
    text = FactRecord(suite=suite, outcome=outcome, say_check="generation").explain()
    assert "prompt     : 'The capital city of Chile is'  (the last chat turn, after 3 demonstrations)" in text


def test_answers_after_a_chat_prompt_are_tokenized_as_the_reply(chat_model):
    prompt = phrase_prompt(chat_model, Phrasing(TEMPLATE, chat=True), "Peru", [Fact("France", "Paris")])
    prompt_ids = chat_model.tokenize([prompt.text])[0][0]
    answers = ["Paris", "New Delhi", "Lima"]
    for answer, tokens in zip(answers, answer_tokens(chat_model, prompt.text, prompt_ids, answers, separator="")):
        assert prompt_ids + tokens == chat_model.tokenize([prompt.text + answer])[0][0]
        assert chat_model.tokenizer.decode(tokens) == answer  # no leading space: the reply starts the turn


# Llama-2-chat's shape: the reply follows "[/INST]" after a space, and there is no separate generation prompt.
SPACED_REPLY_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}<|bos|>[INST] {{ m['content'] }} [/INST]"
    "{% else %} {{ m['content'] }} <|eos|>{% endif %}{% endfor %}"
)


@pytest.mark.parametrize("opening, reply, expected", [
    ("<|im_start|>assistant\n", "<|im_start|>assistant\n{reply}<|im_end|>\n", ""),  # ChatML: the reply starts at once
    ("[INST] Which? [/INST]", "[INST] Which? [/INST] {reply} </s>", " "),  # Llama-2
    ("Assistant:", "Assistant:\n\n{reply}", "\n\n"),
    ("<|assistant|>\n", "<|assistant|>\n<think>\n</think>\n{reply}", ""),  # a reasoning block is the model's to write
    ("<start>model\n", "<start>assistant {reply}", ""),  # the answered turn opens otherwise: no separator to read
])
def test_the_reply_separator_is_the_whitespace_a_template_writes_before_a_reply(opening, reply, expected):
    assert reply_separator(opening, reply.format(reply=REPLY_PROBE)) == expected


def test_a_template_that_spaces_the_reply_scores_answers_after_that_space(tmp_path, chat_model):
    tokenizer = copy.deepcopy(chat_model.tokenizer)
    tokenizer.chat_template = SPACED_REPLY_TEMPLATE
    spaced = LanguageModel(chat_model.model, tokenizer, name="tiny-spaced-chat")
    assert spaced.chat_reply_separator == " " and chat_model.chat_reply_separator == ""
    suite = suite_of(tmp_path, prompt="chat")
    outcomes = run_relation(spaced, suite, SayOptions(shots=3, max_new_tokens=3, batch_size=3))
    for outcome in outcomes:
        assert outcome.prompt.endswith(" [/INST]") and outcome.answer_separator == " "
        assert outcome.generated == reference_generation(spaced, outcome.prompt, 3, spaced.stop_token_ids), outcome.fact
        for candidate in outcome.candidates:
            if candidate.exact:
                assert candidate.logprob == pytest.approx(reference_logprob(spaced, outcome.prompt, candidate.text, other_class(outcome, candidate), same_class(outcome, candidate), separator=" "), abs=1e-4)
    text = FactRecord(suite=suite, outcome=outcomes[-1], say_check="generation").explain()
    assert "(the last chat turn, after 3 demonstrations)" in text


def test_generation_stops_at_the_end_of_turn_tokens_the_generation_config_names(chat_model):
    model = copy.copy(chat_model)
    model.model = copy.deepcopy(chat_model.model)
    model.model.generation_config.eos_token_id = [1, 7]
    assert {1, 7} <= model.stop_token_ids


def test_the_lre_cache_keys_chat_prompts_apart_from_text_and_by_chat_template():
    training = [Fact("France", "Paris")]

    def key(template, chat_template=None):
        return cache_key("fp", template, training, 3, n_train=1, beta=1.0, rank=None, method="full", chat_template=chat_template)

    chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    text = key(TEMPLATE)
    assert key(Phrasing(TEMPLATE)) == text  # a text phrasing keeps the key plain templates always had
    chat = key(Phrasing(TEMPLATE, chat=True), chat_template)
    assert len({text, chat, key(Phrasing(TEMPLATE, chat=True), chat_template + " "),
                key(Phrasing(TEMPLATE, chat=True, system="Be brief."), chat_template)}) == 4


def test_a_chat_relation_gets_its_lre_and_know_verdicts_from_chat_prompts(tmp_path, chat_model, monkeypatch):
    monkeypatch.setenv("FACTCHECK_CACHE", str(tmp_path / "cache"))
    session = FactcheckSession(Settings(shots=3, max_new_tokens=3), progress=lambda message: None)
    session.use_model(chat_model)
    run = session.run(suite_of(tmp_path, prompt="chat", system="Answer with a name."))
    lre = run.lre.lre
    assert isinstance(lre.template, Phrasing) and lre.template.chat and lre.template.system == "Answer with a name."
    assert run.knows is not None and all("<|bos|>system\nAnswer with a name.<|eos|>" in o.prompt for o in run.outcomes)
    # The subject state is the chat prompt's subject token.
    outcome = run.outcomes[-1]
    ids, offsets = chat_model.tokenize([outcome.prompt])
    index = subject_token_index(outcome.prompt, outcome.fact.subject, offsets[0])
    with torch.no_grad():
        states = chat_model.forward(chat_model.encode([outcome.prompt]), layers=[lre.layer]).block_outputs[lre.layer][0]
    assert torch.allclose(states[index], outcome.subject_states[lre.layer], atol=1e-5)
    # The command line asks the same suite as text: another LRE, other prompts.
    text_session = FactcheckSession(Settings(shots=3, max_new_tokens=3, prompt="text"), progress=lambda message: None)
    text_session.use_model(chat_model)
    text_run = text_session.run(suite_of(tmp_path, prompt="chat"))
    assert text_run.lre.lre.template == TEMPLATE and not text_run.outcomes[0].prompt.endswith("assistant\n")


def test_a_system_message_with_text_prompts_is_refused_at_the_pointer(tmp_path):
    for settings in ({"prompt": "text"}, {}):
        with pytest.raises(SuiteError, match="/settings/system: a system message is sent only with chat prompts"):
            suite_of(tmp_path, system="Be brief.", **settings)


def test_an_unknown_prompt_style_is_a_usage_error(pytester, tiny_llama_folder):
    pytester.makeini(f"[pytest]\nfactcheck_model = {tiny_llama_folder}\n")
    (pytester.path / "suites").mkdir()
    (pytester.path / "suites" / "capital.json").write_text(json.dumps(
        {"relation": "capital", "templates": [TEMPLATE], "facts": [{"subject": "France", "object": "Paris"}]}))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "suites", "--factcheck-prompt=instruct")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "factcheck_prompt must be 'text' or 'chat', not 'instruct'" in result.stderr.str()


def test_a_chat_suite_on_a_model_without_a_chat_template_fails_each_fact_with_the_fix(pytester, tiny_llama_folder):
    pytester.makeini(f"[pytest]\nfactcheck_model = {tiny_llama_folder}\nfactcheck_shots = 2\n")
    (pytester.path / "suites").mkdir()
    (pytester.path / "suites" / "capital.json").write_text(json.dumps(
        {"relation": "capital", "templates": [TEMPLATE], "settings": {"prompt": "chat"},
         "facts": [{"subject": s, "object": o} for s, o in CAPITALS[:3]]}))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "suites")
    result.assert_outcomes(failed=3)
    assert "has no chat template" in result.stdout.str() and "INTERNALERROR" not in result.stdout.str()
    # With another suite that runs, the report lacks these facts: it says it is incomplete, so no diff passes on it.
    (pytester.path / "suites" / "text.json").write_text(json.dumps(
        {"relation": "text", "templates": [TEMPLATE], "facts": [{"subject": s, "object": o} for s, o in CAPITALS[3:6]]}))
    pytester.runpytest_inprocess("-p", "no:cacheprovider", "suites", "--factcheck-report=r.json", "--factcheck-lre=off")
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["incomplete"] == "3 fact(s) could not run" and {f["relation"] for f in report["facts"]} == {"text"}


def test_a_broken_chat_template_is_named_as_broken_and_one_that_refuses_turns_names_only_the_fix_that_applies(chat_model):
    broken = copy.copy(chat_model)
    broken.tokenizer = copy.copy(chat_model.tokenizer)
    broken.tokenizer.chat_template = "{% for message in messages %}{{ message.content }}{% endfor %}{% if x"
    with pytest.raises(SettingError, match=r"cannot be read \(line 1: .*\): fix the model's chat_template.jinja") as caught:
        broken.chat_text([{"role": "user", "content": "Capital of Peru?"}])
    assert "system" not in str(caught.value)
    refusing = copy.copy(chat_model)
    refusing.tokenizer = copy.copy(chat_model.tokenizer)
    refusing.tokenizer.chat_template = "{{ raise_exception('no such turns') }}"
    with pytest.raises(SettingError, match=r"refused the prompt's turns \(user\): no such turns; ask with `prompt: text`"):
        refusing.chat_text([{"role": "user", "content": "Capital of Peru?"}])
    with pytest.raises(SettingError, match=r"drop the suite's `system` message, or ask with `prompt: text`"):
        refusing.chat_text([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of Peru?"}])


def test_a_chat_template_that_never_finishes_rendering_fails_in_time_naming_it(chat_model, monkeypatch):
    from factcheck.model import language_model

    # A template that renders in time is rendered directly from then on.
    question = [{"role": "user", "content": "Capital of Peru?"}]
    assert chat_model.chat_text(question) == chat_model.chat_text(question) and chat_model._chat_template_rendered is not None
    monkeypatch.setattr(language_model, "CHAT_TEMPLATE_SECONDS", 0.02)
    endless = copy.copy(chat_model)
    endless.tokenizer = copy.copy(chat_model.tokenizer)
    # Nested loops, which the sandbox caps one by one but not as a product: ten billion steps, as a hostile template
    # had (the rendering given up on is stopped, so it does not slow the tests after it).
    endless.tokenizer.chat_template = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}x"
    endless._chat_template_rendered, endless._chat_template_hangs = None, False
    # The probe that finds the reply's separator is the first rendering: it gives up in time too.
    assert endless.chat_reply_separator == language_model.CHAT_SEPARATOR
    for _ in range(2):  # the second prompt is refused at once, not rendered again
        with pytest.raises(SettingError, match=r"did not render one prompt in 0.02 s \(a loop without end\?\): fix the model's "
                                               r"chat_template.jinja"):
            endless.chat_text(question)
    # The rendering given up on is stopped: left running, a hostile one took memory at 130 MB/s to the end of the process.
    assert not any(thread.name == "factcheck-chat-template" and thread.is_alive() for thread in threading.enumerate())
    # One that takes memory is given up on before its time is out.
    monkeypatch.setattr(language_model, "CHAT_TEMPLATE_SECONDS", 60)
    monkeypatch.setattr(language_model, "CHAT_TEMPLATE_GROWTH_BYTES", 64 * 2**20)
    growing = copy.copy(chat_model)
    growing.tokenizer = copy.copy(chat_model.tokenizer)
    growing.tokenizer.chat_template = "{% for i in range(100000) %}{% for j in range(100000) %}{{ j }}{% endfor %}{% endfor %}"
    growing._chat_template_rendered, growing._chat_template_hangs = None, False
    with pytest.raises(SettingError, match=r"took more than 64 MiB of memory rendering one prompt"):
        growing.chat_text(question)
    assert not any(thread.name == "factcheck-chat-template" and thread.is_alive() for thread in threading.enumerate())


def test_a_chat_template_that_writes_megabytes_is_refused_before_they_are_tokenized_and_named_templates_are_read(chat_model):
    question = [{"role": "user", "content": "Capital of Peru?"}]
    huge = copy.copy(chat_model)
    huge.tokenizer = copy.copy(chat_model.tokenizer)
    # Twenty megabytes of one prompt took 21.5 GB of memory to tokenize before it was found too long.
    huge.tokenizer.chat_template = "{{ 'x ' * 10000000 }}" + chat_model.chat_template
    huge._chat_template_rendered = None
    with pytest.raises(SettingError, match=r"renders a prompt of 20,0\d\d,\d\d\d characters, far more than its \d+ positions"):
        huge.chat_text(question)
    # A tool-use model's named templates: the "default" one is the model's chat template, as transformers renders it.
    named = copy.copy(chat_model)
    named.tokenizer = copy.copy(chat_model.tokenizer)
    named.tokenizer.chat_template = {"default": chat_model.chat_template, "tool_use": "{{ 'tools' }}"}
    assert named.chat_template == chat_model.chat_template and named.chat_text(question) == chat_model.chat_text(question)


@pytest.mark.parametrize("building", ["'x' * 1000000000", "'x'|center(1000000000)", "'x'.ljust(1000000000)",
                                      "'%1000000000s' % 'x'", "'{:>1000000000}'.format('x')", "10 ** 100000000"])
def test_a_chat_template_that_builds_gigabytes_in_one_operation_is_refused_before_it_runs(chat_model, building):
    # One operation, done in under a second, which no timeout stops: 'x' * 10**9 took 4.3 GB, 2 * 10**9 took 8.3 GB.
    question = [{"role": "user", "content": "Capital of Peru?"}]
    huge = copy.copy(chat_model)
    huge.tokenizer = copy.copy(chat_model.tokenizer)
    huge.tokenizer.chat_template = "{{ " + building + " }}" + chat_model.chat_template
    huge._chat_template_rendered = None
    with pytest.raises(SettingError, match=r"the chat template .* more than the 67,108,864 characters a template may build "
                                           r"at once: fix the model's chat_template.jinja"):
        huge.chat_text(question)
    # Templates that build prompts of the usual size render as before.
    assert "Capital of Peru?" in chat_model.chat_text(question)


@pytest.mark.parametrize("building", [
    "{{ big ~ big }}", "{% set ns = namespace(x='x') %}{% for i in range(40) %}{% set ns.x = ns.x + ns.x %}{% endfor %}",
    "{% for i in range(100) %}{{ big }}{% endfor %}", "{% set pieces %}{% for i in range(100) %}{{ big }}{% endfor %}{% endset %}",
    "{% set l = [big] %}{{ l + l }}", "{{ range(100)|map('string')|join(big) }}", "{{ big.join(range(100)|map('string')) }}",
    "{{ ('%(a)s' * 100) % {'a': big} }}", "{{ ('{0}' * 100).format(big) }}", "{{ big|replace('x', 'xx') }}",
    "{{ ('\t' * 1000000).expandtabs(1000) }}", "{{ ('\n' * 1000000)|indent(1000) }}", "{{ [big]|tojson(indent=4) }}",
    # The 30th pass: widths and precisions taken from the arguments, batch, a namespace or a dict's items written out,
    # join of an attribute, escaping, case changes and splitting, each of which builds its output in C.
    "{{ '%*s' % (1500000000, 'x') }}", "{{ '%.200000000d' % 1 }}", "{{ '{:>{}}'.format('x', 200000000) }}",
    "{{ [1]|batch(200000000, 0)|list|length }}", "{% set ns = namespace(a=[big, big]) %}{{ ns|string }}",
    "{{ {'a': big, 'b': big}.items()|string }}", "{% set ns = namespace(a=big) %}{{ [ns, ns]|join(attribute='a') }}",
    "{{ ('\"' * 20000000)|e }}", "{{ big.upper() }}", "{{ (big ~ ' ').split() }}"])
def test_a_chat_template_that_joins_many_small_pieces_into_gigabytes_is_refused_before_the_join(chat_model, building):
    # Each piece is under the bound, but the join, the concatenation or the format that writes them all runs in C,
    # holding the interpreter: neither the timeout nor the memory watch could stop it (a join of 100 pieces of 30
    # million characters took 3 GB in 10 s).
    question = [{"role": "user", "content": "Capital of Peru?"}]
    huge = copy.copy(chat_model)
    huge.tokenizer = copy.copy(chat_model.tokenizer)
    huge.tokenizer.chat_template = "{% set big = 'x' * 40000000 %}" + building + chat_model.chat_template
    huge._chat_template_rendered = None
    with pytest.raises(SettingError, match=r"the chat template .* more than the [\d,]+ characters a template may (build|split) "
                                           r"at once: fix the model's chat_template.jinja"):
        huge.chat_text(question)
    # Joins, concatenations and formats of the usual size render as before.
    usual = copy.copy(chat_model)
    usual.tokenizer = copy.copy(chat_model.tokenizer)
    usual.tokenizer.chat_template = ("{{ ['a', 'b']|join('-') ~ ('%s' % 'c') + '{0}'.format('d') + range(2)|map('string')|join"
                                     " + 'e'.replace('e', 'f') ~ '%d'|format(1700000000) }}") + chat_model.chat_template
    usual._chat_template_rendered = None
    assert usual.chat_text(question).startswith("a-bcd01f1700000000")  # a number formatted is no width
