"""One pytest session's model and results: the model loads on first use, each relation runs once."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
import unicodedata
from typing import Callable, Collection

from factcheck.errors import ModelChangedError
from factcheck.knows.faithfulness_cache import faithfulness_key, load_faithfulness, save_faithfulness
from factcheck.knows.implicit_lre import ImplicitLre
from factcheck.knows.know_rules import Faithfulness
from factcheck.knows.knowcheck import faithfulness, know_check
from factcheck.knows.lre import NonFiniteLre
from factcheck.model.allocator import release_freed_memory
from factcheck.model.language_model import LanguageModel, load_model
from factcheck.reports.records import DistractedResult, FactRecord, PhrasingRun, RelationRun
from factcheck.reports.run_summary import LreInfo, ModelInfo, RunSummary
from factcheck.says.saycheck import SayOptions, prompts_too_long, run_relation
from factcheck.settings import DEFAULT_SHOTS, Settings, resolve, settings_for_suite, suite_shots, templates_asked
from factcheck.suites.suite import Suite, SuiteError


class FactcheckSession:
    """Settings come from the command line, then the suite file, then the ini file, then defaults."""

    def __init__(self, command_line: Settings, ini: Settings = Settings(), progress: Callable[[str], None] | None = None,
                 threads: int | None = None):
        self.command_line = command_line
        self.threads = threads  # torch threads for this process (an xdist worker's share of the cores); None: torch's default
        self.progress = progress or (lambda message: print(message, end="", file=sys.stderr, flush=True))
        self.ini = ini
        self.settings = resolve(command_line, ini)  # the settings no suite can change
        self._model: LanguageModel | None = None
        self._model_error: Exception | None = None
        self._model_error_traceback = None  # where it failed: raising it again would add to it each time
        self._runs: dict[str, RelationRun] = {}
        self._failed: dict[str, tuple[Exception, object]] = {}  # suite path -> why its relation could not run, and where
        self._handed_out_state: tuple | None = None  # the model's state when a test of the project's own took it

    @property
    def model(self) -> LanguageModel:
        if self._model_error is not None:
            # A model that could not load is not tried again per relation; raised with the traceback of where it failed
            # (pytest shows it once: the plugin names the first fact for the others).
            raise self._model_error.with_traceback(self._model_error_traceback)
        if self._model is None:
            if self.threads is not None:
                import torch

                torch.set_num_threads(self.threads)
            try:
                self._model = load_model(
                    self.settings.model,
                    dtype=self.settings.dtype,
                    device=self.settings.device,
                    trust_remote_code=self.settings.trust_remote_code,
                )
                self.progress(f"\n[{self.model_line()}]")  # its fingerprint too: a model whose fingerprint fails is not used
            except Exception as error:
                self._model = None
                self._model_error, self._model_error_traceback = error, error.__traceback__
                raise
        return self._model

    def model_info(self) -> ModelInfo:
        model = self.model
        return ModelInfo(name=model.name, architecture=model.architecture, fingerprint=model.fingerprint,
                         dtype=str(model.dtype).removeprefix("torch."), device=str(model.device), load_seconds=model.load_seconds)

    def model_line(self) -> str:
        """Which model runs: name, architecture, fingerprint, dtype, device and load time."""
        return self.model_info().line()

    def model_for_a_test(self) -> LanguageModel:
        """The model handed to a test of the project's own (the `factcheck_model` fixture). From then on each relation
        first checks that nothing changed it in place: its facts would be another model's under this one's
        fingerprint, in the LRE cache, the reports and the baseline."""
        model = self.model
        if self._handed_out_state is None:
            self._handed_out_state = model.state_signature()
        return model

    def _refuse_a_changed_model(self) -> None:
        if self._handed_out_state is not None and self.model.state_signature() != self._handed_out_state:
            raise ModelChangedError(
                f"the session's model ({self.model.name!r}) was changed in place after a test took it through the "
                "factcheck_model fixture: its weights or its forward hooks differ from then, so its facts would be "
                "another model's, cached and recorded under this model's fingerprint; undo the change at the end of "
                "that test (put the weights back, remove the hooks), or load a model of the test's own")

    def use_model(self, model: LanguageModel) -> None:
        """Check an already loaded model (for Python callers and tests)."""
        self._model = model

    def settings_for(self, suite: Suite) -> Settings:
        return settings_for_suite(self.command_line, suite, self.ini)

    def options_for(self, suite: Suite) -> tuple[SayOptions, str]:
        settings = self.settings_for(suite)
        # The LRE's training facts are the prompts' demonstrations, so that one pass serves both checks.
        options = SayOptions(shots=settings.shots, max_new_tokens=settings.max_new_tokens, batch_size=settings.batch_size)
        return options, settings.say_check

    @property
    def require(self) -> str:
        return self.settings.require

    @property
    def lre_enabled(self) -> bool:
        return self.settings.lre != "off"

    def run(self, suite: Suite, wanted: Collection[int] | None = None) -> RelationRun:
        """The relation's facts, computed together the first time any of them is asked for: all of them, or only the
        facts at the indices `wanted` where their verdicts rest on what a whole run would give (see `_selection`; the
        facts' own numbers may differ from a whole run's in float rounding, as packing differs). A later call wanting
        a fact that did not run computes the whole relation."""
        key = str(suite.path)
        if key in self._failed:
            # Each of its facts fails with the same error, with the traceback of where it failed (which pytest shows
            # once: the plugin names the first fact for the others); the relation is not run again.
            error, traceback = self._failed[key]
            raise error.with_traceback(traceback)
        earlier = self._runs.get(key)
        if earlier is None or not self._covers(earlier, wanted):
            try:
                run = self._run_relation(suite, wanted if earlier is None else None)
            except Exception as error:  # any failure: a relation that cannot run is not run again for each fact
                self._failed[key] = error, error.__traceback__
                raise
            if earlier is not None:
                run.asked |= earlier.asked
            self._runs[key] = run
        return self._runs[key]

    @staticmethod
    def _covers(run: RelationRun, wanted: Collection[int] | None) -> bool:
        return run.computed is None or (wanted is not None and all(run.has_fact(index) for index in wanted))

    def _run_relation(self, suite: Suite, wanted: Collection[int] | None) -> RelationRun:
        options, say_check = self.options_for(suite)
        settings = self.settings_for(suite)
        mode = settings.templates
        self.model  # loaded (and announced) before the relation's time starts
        self._refuse_a_changed_model()
        problems = control_token_problems(suite, self.model.control_token_texts)
        if problems:
            raise SuiteError(suite.path, problems, fix="write the text without the model's control tokens")
        problems = unwritable_text_problems(suite, self.model)
        if problems:
            raise SuiteError(suite.path, problems, fix="write the text in characters this model's tokenizer has, or check a "
                                                       "model whose tokenizer covers them")
        started = time.perf_counter()
        count = len(templates_asked(suite, mode))
        phrased = [suite.phrased(index, prompt=settings.prompt) for index in range(count)]
        distracted = dataclasses.replace(options, distractor=suite.settings.distractor)
        for index, question in enumerate(phrased):  # distracted prompts are asked under the first template only
            problems = prompts_too_long(self.model, question, distracted if index == 0 else options)
            if problems:
                raise SuiteError(suite.path, problems, fix="shorten the subject or the template, or lower --factcheck-shots "
                                                           "(each demonstration is a fact of the suite) or "
                                                           "--factcheck-max-new-tokens (the tokens generated after it)")
        self.progress(f"\n[factcheck] {suite.relation_id}: {len(suite.facts)} facts"
                      + (f" x {count} templates" if count > 1 else "") + (" (chat prompts)" if settings.prompt == "chat" else ""))
        computed, stored = self._selection(suite, wanted, phrased, options, say_check)
        phrasings = []
        for index in range(count):
            if count > 1:
                self.progress(f"\n  template {index + 1}: {suite.templates[index]!r}")
            # Distracted prompts are asked under the first template only: one false statement per fact is the probe.
            phrasing = self._run_phrasing(phrased[index], index, options, say_check, distractor=index == 0, only=computed,
                                          stored_faithfulness=stored[index])
            if index and phrasing.lre is not None:  # only the first template's LRE is drawn (the lens): free the others
                phrasing = dataclasses.replace(phrasing, lre=dataclasses.replace(phrasing.lre, lre=None))
            phrasings.append(phrasing)
        release_freed_memory()  # the relation's passes leave a fragmented heap behind
        seconds = time.perf_counter() - started
        self.progress(f" ... {seconds:.1f} s\n")
        return RelationRun(suite=suite, options=options, say_check=say_check, phrasings=phrasings, seconds=seconds,
                           require=self.require, template_mode=mode, prompt=settings.prompt, computed=computed,
                           know_check=self.lre_enabled)

    def _selection(self, suite: Suite, wanted: Collection[int] | None, phrased: list[Suite], options: SayOptions,
                   say_check: str) -> tuple[tuple[int, ...] | None, list[Faithfulness | None]]:
        """Which facts to compute (None: all) and each template's faithfulness where it comes from the cache.

        A fact's know-verdict rests on its relation's faithfulness over every test fact, so part of a relation runs
        alone only where that faithfulness is stored from an earlier whole run with the same model, suite, code and
        options (or where there is no LRE to trust)."""
        nothing_stored = [None] * len(phrased)
        indices = None if wanted is None else tuple(sorted(set(wanted)))
        if indices is None or len(indices) == len(suite.facts):
            return None, nothing_stored
        selected = f"{len(indices)} of {len(suite.facts)} facts selected"
        if not self._wants_lre(suite, options):
            self.progress(f" ({selected})")
            return indices, nothing_stored
        stored = [load_faithfulness(faithfulness_key(self.model, suite_i, index, options, say_check), len(suite.facts))
                  for index, suite_i in enumerate(phrased)]
        if any(faith is None for faith in stored):
            self.progress(f" ({selected}; all run this once: the LRE's trust needs every fact, and is kept for later runs)")
            return None, nothing_stored
        self.progress(f" ({selected}; the LRE's trust from an earlier whole run)")
        return indices, stored

    def _wants_lre(self, suite: Suite, options: SayOptions) -> bool:
        """Whether the relation gets an LRE (unless estimating it fails): the know-check is on, and the suite has the
        training facts, at least two, and a block output to read ("emb" is not captured here)."""
        return self.lre_enabled and 2 <= options.shots <= len(suite.facts) and suite.settings.lre.layer != "emb"

    def _run_phrasing(self, suite: Suite, template_index: int, options: SayOptions, say_check: str, distractor: bool,
                      only: tuple[int, ...] | None = None, stored_faithfulness: Faithfulness | None = None) -> PhrasingRun:
        """The relation's facts (those at the indices `only`, when given) asked under the suite's first template
        (`suite` is phrased by the caller), with that template's LRE; `stored_faithfulness` stands for the whole
        relation's where only part of it runs."""
        model = self.model
        distractor_settings = suite.settings.distractor if distractor else None
        count = len(suite.facts) if only is None else len(only)
        lre = None
        lre_skipped = None
        cache_hit = False
        if self.lre_enabled and options.shots > len(suite.facts):
            lre_skipped = (f"no LRE: it would train on {options.shots} facts (the number of demonstrations) and the suite "
                           f"has {len(suite.facts)}; lower --factcheck-shots or add facts")
            self.progress(f" ({lre_skipped})")
        elif self.lre_enabled and options.shots < 2:
            # Said, not silent: under --factcheck-require knows its facts would pass on the say-check alone.
            lre_skipped = (f"no LRE: it trains on the demonstrations, and the prompts have {options.shots}; give the suite "
                           "2 shots or more for a know-check")
            self.progress(f" ({lre_skipped})")
        elif self.lre_enabled and suite.settings.lre.layer == "emb":
            lre_skipped = "no LRE: its layer is 'emb' (the embeddings), which the know-check does not read; give a block number"
            self.progress(f" ({lre_skipped})")
        elif self._wants_lre(suite, options):
            with self._step("LRE"):
                decoded_states = count * (2 if distractor_settings is not None else 1)
                try:
                    lre, cache_hit = lre_for_suite(model, suite, options.shots, decoded_states=decoded_states)
                except NonFiniteLre as error:
                    lre_skipped = f"no know-check: {error}"
                if lre is not None and not isinstance(lre, ImplicitLre):
                    self.progress(" (cached)" if cache_hit else " (estimated)")
                elif isinstance(lre, ImplicitLre):
                    self.progress(" (no W cached: decoded without it)")
        layers = [lre.layer] if lre is not None else []
        with self._step(f"say ({count} prompt{'s' if count != 1 else ''})"):
            outcomes = run_relation(model, suite, options, capture_layers=layers, only=only)
        distracted_outcomes = None
        if distractor_settings is not None:
            with self._step("distracted prompts"):
                distracted_options = dataclasses.replace(options, distractor=distractor_settings)
                distracted_outcomes = run_relation(model, suite, distracted_options, capture_layers=layers, only=only)
        knows, distracted_knows = None, [None] * len(outcomes)
        if lre is not None:
            try:
                with self._step("know"):
                    knows = know_check(model, lre, outcomes, say_check)
                    if distracted_outcomes is not None:
                        distracted_knows = know_check(model, lre, distracted_outcomes, say_check)
            except NonFiniteLre as error:  # an implicit LRE meets infinite values only when it decodes
                lre, knows, distracted_knows, lre_skipped = None, None, [None] * len(outcomes), f"no know-check: {error}"
        distracted = None
        if distracted_outcomes is not None:
            distracted = [DistractedResult(o, k, say_check) for o, k in zip(distracted_outcomes, distracted_knows)]
        info = None
        if lre is not None:
            implicit = isinstance(lre, ImplicitLre)
            if implicit:
                self.progress(f" (exact, without W: {lre.products} Jacobian-vector products)" if lre.products else " (decodes cached)")
                lre.release()  # the run keeps the LRE for the lens; its passes would pile up relation after relation
            if only is None:
                faith = faithfulness(outcomes, knows)
                save_faithfulness(faithfulness_key(model, suite, template_index, options, say_check), faith)
            else:
                faith = stored_faithfulness
            info = LreInfo(
                layer=lre.layer, beta=lre.beta, rank=lre.rank, n_train=options.shots,
                faithfulness=faith, cache_hit=cache_hit or (implicit and lre.products == 0), lre=lre,
                decode="implicit" if implicit else "weight", products=lre.products if implicit else 0,
            )
        return PhrasingRun(template=suite.templates[0], outcomes=outcomes, knows=knows, lre=info, lre_skipped=lre_skipped,
                           distracted=distracted)

    @contextlib.contextmanager
    def _step(self, name: str):
        """Say a step of a relation as it starts and its seconds as it ends (", say (50 prompts) 3.1 s"): the line
        grows step by step on a terminal, and a CI log shows where the time went."""
        self.progress(f", {name}")
        started = time.perf_counter()
        try:
            yield
        finally:
            self.progress(f" {time.perf_counter() - started:.1f} s")

    def has_run(self, suite: Suite, fact_index: int | None = None) -> bool:
        """Whether the relation (its fact `fact_index`, when given) was computed, or failed, already."""
        key = str(suite.path)
        if key in self._failed:
            return True
        run = self._runs.get(key)
        return run is not None and (fact_index is None or run.has_fact(fact_index))

    def record_for(self, suite: Suite, fact_index: int) -> FactRecord:
        """The fact's record; a relation not run yet runs whole."""
        run = self.run(suite, wanted=(fact_index,) if str(suite.path) in self._runs else None)
        record = run.record(fact_index)
        run.asked.add(fact_index)
        return record

    def runs(self) -> list[RelationRun]:
        return list(self._runs.values())

    def all_records(self) -> list[FactRecord]:
        return [record for run in self._runs.values() for record in run.asked_records()]

    def summary(self, lens_figures: int = 0) -> RunSummary:
        """The run as the reports and the gate need it, relations sorted by id; with the attribute lens of the
        first `lens_figures` hidden facts (drawn here, where the model is: the HTML report shows them)."""
        relations = []
        budget = lens_figures
        for run in sorted(self._runs.values(), key=lambda r: r.suite.relation_id):
            lens = []
            if budget > 0 and run.lre is not None and run.lre.lre is not None:
                from factcheck.reports.html_report import draw_lens

                hidden = [record for record in run.asked_records() if record.verdict == "hidden"][:budget]
                if hidden:
                    self.progress(f"\n[factcheck] drawing the attribute lens of {len(hidden)} hidden fact(s) of {run.suite.relation_id}")
                for record in hidden:
                    try:
                        lens.append(draw_lens(self.model, run, record))
                    except Exception as error:  # noqa: BLE001 - a figure is not worth the report it belongs to
                        self.progress(f"\n[factcheck] no lens figure for {run.suite.relation_id}[{record.fact.subject}]: {error}")
                budget -= len(hidden)
            relations.append(run.summary(tuple(lens)))
        return RunSummary(self.model_info(), tuple(relations))


def training_size(suite: Suite) -> int:
    """How many of the suite's first facts train its LRE (and serve as demonstrations) by default."""
    shots = suite_shots(suite)
    return DEFAULT_SHOTS if shots is None else shots


def lre_for_suite(model: LanguageModel, suite: Suite, n_train: int | None = None, decoded_states: int | None = None):
    """The relation's LRE with the suite's pinned settings, from the disk cache, estimated on a miss; or, when
    `decoded_states` (the subject states the caller will decode) are few against the model's width and no W is
    cached, an ImplicitLre that decodes them exactly without forming W.

    Returns (lre, cache_hit)."""
    from factcheck.knows.lre_cache import load_or_estimate

    settings = suite.settings.lre
    pinned = {"beta": settings.beta} if settings.beta is not None else {}
    n = training_size(suite) if n_train is None else n_train
    return load_or_estimate(model, suite, settings.layer, n_train=n, rank=settings.rank, implicit_states=decoded_states, **pinned)


def _suite_texts(suite: Suite) -> list[tuple[str, str]]:
    """(JSON pointer, text) for each text of `suite` that reaches the model."""
    texts = [(f"/templates/{i}", t) for i, t in enumerate(suite.templates)]
    for index, fact in enumerate(suite.facts):
        texts += [(f"/facts/{index}/subject", fact.subject), (f"/facts/{index}/object", fact.object)]
        texts += [(f"/facts/{index}/aliases/{i}", alias) for i, alias in enumerate(fact.aliases)]
    settings = suite.settings
    if settings.system:
        texts.append(("/settings/system", settings.system))
    if settings.distractor is not None:
        texts.append(("/settings/distractor/statement", settings.distractor.statement))
    return texts


def unwritable_text_problems(suite: Suite, model) -> list[tuple[str, str]]:
    """(JSON pointer, message) for each text of `suite` that the model's tokenizer cannot write: a vocabulary without
    some characters (and no byte fallback) drops them or reads them as unknown, so "Côte d'Ivoire" became "Cte
    d'Ivoire" and the fact was checked on other text without a word. Runs of spaces, and Unicode's compatible forms,
    do not count (tokenizers normalise them); a space dropped does."""
    texts = _suite_texts(suite)
    ids, _ = model.tokenize([text for _, text in texts])
    problems = []
    for (pointer, text), token_ids in zip(texts, ids):
        written = model.tokenizer.decode(token_ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if _comparable(written) != _comparable(text):
            lost = sorted(set(_comparable(text)) - set(_comparable(written)))
            problems.append((pointer, f"{text!r} is read by this model's tokenizer as {written!r}"
                                      + (f" (its vocabulary lacks {''.join(lost)!r})" if lost else "")))
    return problems


def _comparable(text: str) -> str:
    # Runs of spaces as one (a space a tokenizer drops is still lost: "New\u00a0Zealand" read as "NewZealand").
    return " ".join(unicodedata.normalize("NFKC", text).split())


def control_token_problems(suite: Suite, control_texts: tuple[str, ...]) -> list[tuple[str, str]]:
    """(JSON pointer, message) for each text of `suite` that holds one of the model's control tokens: the tokenizer
    would read "Egypt<|im_end|>" as a word and an end of turn, and the fact's verdict would mean nothing."""
    if not control_texts:
        return []
    texts = _suite_texts(suite)
    problems = []
    for pointer, text in texts:
        found = [control for control in control_texts if control in text]
        if found:
            problems.append((pointer, f"{text!r} holds {found[0]!r}, a control token of this model's tokenizer (read as "
                                      "that token, not as text)"))
    # A control token may also be made where a subject meets its template ("Egypt<|im_" in "{subject}end|> is").
    flagged = {pointer for pointer, _ in problems}
    for index, fact in enumerate(suite.facts):
        for template_index in range(len(suite.templates)):
            pointers = (f"/facts/{index}/subject", f"/templates/{template_index}")
            if flagged.intersection(pointers):
                continue
            prompt = suite.render(fact.subject, template_index)
            found = [control for control in control_texts if control in prompt]
            if found:
                problems.append((pointers[0], f"{fact.subject!r} in the template {pointers[1]} makes the prompt {prompt!r}, "
                                              f"which holds {found[0]!r}, a control token of this model's tokenizer"))
                flagged.add(pointers[0])
    return problems
