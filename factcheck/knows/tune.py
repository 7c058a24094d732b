"""`factcheck tune`: choose a suite's LRE layer and beta by faithfulness on held-out facts.

Protocol
--------
n is the suite's training size (settings.lre.n_train, else settings.shots,
else 8). The plugin estimates each relation's LRE on its first n facts and
uses those same facts as every prompt's demonstrations, so tune does too.

* Folds. Fold j holds facts [j*n, (j+1)*n); fold 0 is exactly the plugin's
  training set. Up to `folds` complete folds are used (3 by default: the
  first 3n facts; fewer when the suite is short).
* Estimate. For each fold and each candidate layer, the LRE is estimated on
  the fold's n facts (each prompt demonstrating the fold's other facts),
  exactly as `estimate_lre` would.
* Score. Each fold's LRE is scored on held-out facts: the suite's facts
  outside that fold (the first `max_held_out` of them), each prompted with
  the fold's n facts as demonstrations. As in the LRE paper, only held-out
  facts the model itself gets right count, and the LRE is right when its
  top-1 decoded token is the object's first token (strict, token ids; facts
  whose first token cannot decide, being blank or shared with a wrong
  candidate, are left out: factcheck.knows.know_rules) or a prefix of it
  (lenient, the paper's rule). A fact is never scored by an
  LRE it helped estimate.
* Pool. A candidate's score is LRE-right / tested summed over the folds.
* Choose. The layer with the best strict score at the suite's current beta;
  ties go to the better lenient score, then to the layer nearest the
  current one. Then beta: a small grid at that layer, re-using each fold's
  W and b (beta only rescales W h, so nothing is re-estimated); ties go to
  the beta nearest the current one.

Caveat: fold 0's held-out facts are the facts the plugin later reports
faithfulness on, and they took part in the choice, so that number is
slightly optimistic; the other folds make the choice less dependent on them.

Cost: `states_by_layer` reads every layer from one forward pass. Scoring
needs W h only for the held-out states, so each fold takes the cheaper of two
exact paths (`--lre-path`, "auto" by default):

* full: `estimate_layers` forms every candidate layer's W from one set of
  backward passes per training prompt (the gradient of the object state with
  respect to an addition to the residual stream at each layer): d Jacobian
  rows per prompt, about one LRE estimate at the lowest candidate layer.
* implicit: W h = mean_i J_i h by forward-mode products along each held-out
  state (factcheck.knows.implicit_lre), per layer: layers x (held-out + 1)
  products per prompt. It wins when that is well below d: few layers or
  held-out facts, or a wide model (an 8B model's d = 4096).

Writing: the chosen `layer` and `beta` go into the file's `settings.lre`;
every other key, value and key order is kept. The file is re-formatted in
the project's suite style (2-space indent, facts one per line, trailing
newline), checked with `load_suite` under a temporary name and only then
renamed over the original.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import stat
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

from factcheck.cache import give_the_owner_of, temporary_prefix
from factcheck.errors import FactcheckError, SettingError
from factcheck.knows.implicit_lre import IMPLICIT_SHARE, ImplicitLre
from factcheck.knows.know_rules import UNDECIDED_HINT
from factcheck.knows.lre import (
    DEFAULT_BETA,
    EMBEDDING_LAYER,
    Lre,
    PromptSite,
    PromptStates,
    SuffixProblem,
    query_sites,
    relation_parts,
    resolve_layer,
    training_sites,
)
from factcheck.knows.lre_metrics import FaithfulnessReport, faithfulness
from factcheck.knows.tune_defaults import DEFAULT_BETAS, DEFAULT_FOLDS, DEFAULT_MAX_HELD_OUT, LRE_PATHS  # noqa: F401
from factcheck.model.hooks import edit_residual
from factcheck.model.language_model import LanguageModel, left_pad
from factcheck.suites.folders import json_files_below
from factcheck.suites.suite import Fact, Suite, SuiteError, load_suite, read_json_document

# Candidate layers: every LAYER_STRIDE-th block from block 1 up to this fraction of the depth
# (late layers fail: near the output the subject state no longer maps linearly to the object).
LAYER_STRIDE = 2
MAX_LAYER_FRACTION = 0.8

Progress = Callable[[str], None]


class TuneError(FactcheckError, ValueError):
    pass


# ---- candidates and folds --------------------------------------------------------------
def default_layers(num_layers: int) -> list[int]:
    """Blocks 1, 3, 5, ... up to about 80% of the depth (SmolLM2's 30 blocks: 1-23); block 0 for 1-block models."""
    top = min(num_layers - 1, max(1, round(MAX_LAYER_FRACTION * num_layers)))
    return list(range(1, top + 1, LAYER_STRIDE)) or [0]


def make_folds(facts: Sequence[Fact], n: int, folds: int) -> list[tuple[Fact, ...]]:
    """Consecutive blocks of n facts, fold 0 first (the plugin's training set); only complete folds that
    leave at least one fact outside them."""
    if n < 2:
        raise TuneError(f"an LRE needs at least 2 training facts, the suite trains on {n}")
    if len(facts) <= n:
        raise TuneError(f"the suite has {len(facts)} facts: at least {n + 1} are needed to hold one out of {n} training facts")
    count = max(1, min(folds, len(facts) // n))
    return [tuple(facts[j * n : (j + 1) * n]) for j in range(count)]


def held_out(facts: Sequence[Fact], fold: Sequence[Fact], limit: int | None = None) -> tuple[Fact, ...]:
    """The facts outside `fold`, in suite order, at most `limit` of them."""
    trained = {f.subject for f in fold}
    outside = tuple(f for f in facts if f.subject not in trained)
    return outside if limit is None else outside[:limit]


# ---- every layer from one pass ----------------------------------------------------------
def _add_at_subject(offset: torch.Tensor):
    """A residual-stream edit adding `offset` at suffix position 0 (the subject's last token), built without
    in-place writes so that it works under torch.func transforms."""
    def edit(states: torch.Tensor) -> torch.Tensor:
        shifted = states[:, :1] + offset.to(states.dtype).reshape(1, 1, -1)
        return torch.cat([shifted, states[:, 1:]], dim=1)

    return edit


def estimate_layers(
    model: LanguageModel,
    template: str,
    training: Sequence[Fact],
    layers: Sequence[int | str],
    *,
    beta: float = DEFAULT_BETA,
    rank: int | None = None,
    relation: str = "",
) -> dict[int, Lre]:
    """The LRE of `training` at each of `layers`, equal to `estimate_lre(..., n_train=len(training))` at each.

    Per training prompt, the suffix runs from the lowest layer with h spliced
    in there and a zero offset added at the subject position of every higher
    layer; one reverse-mode Jacobian of the object state with respect to h and
    the offsets gives dz/dh_l for every layer at once (adding to h_l and
    replacing h_l have the same derivative).
    """
    resolved = sorted({resolve_layer(model, layer) for layer in layers})
    if EMBEDDING_LAYER in resolved:
        raise TuneError(f"tune sweeps block outputs; layer {EMBEDDING_LAYER!r} is not supported")
    first, higher = resolved[0], resolved[1:]
    weights: dict[int, torch.Tensor] = {}
    biases: dict[int, torch.Tensor] = {}
    for problem in SuffixProblem.for_sites(model, training_sites(model, template, training), first):
        with torch.no_grad(), model.capture_blocks(higher) as captured:
            problem.object_state(problem.h)
            subject_states = {layer: captured[layer][0, 0].clone() for layer in higher}

        def object_state(h: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
            with contextlib.ExitStack() as stack:
                for row, layer in enumerate(higher):
                    stack.enter_context(edit_residual(model, layer, _add_at_subject(offsets[row])))
                return problem.object_state(h)

        offsets = torch.zeros(len(higher), problem.h.shape[0], dtype=problem.h.dtype, device=problem.h.device)
        jacobian_h, jacobian_offsets = torch.func.jacrev(object_state, argnums=(0, 1), chunk_size=problem.rows_per_chunk())(
            problem.h, offsets
        )
        jacobians = {first: jacobian_h, **{layer: jacobian_offsets[:, row] for row, layer in enumerate(higher)}}
        for layer, jacobian in jacobians.items():
            # Sums in float32 whatever the model's dtype, as estimate_lre does.
            jacobian = jacobian.float()
            h = problem.h if layer == first else subject_states[layer]
            bias = problem.z.float() - jacobian @ h.float()
            weights[layer] = weights[layer] + jacobian if layer in weights else jacobian
            biases[layer] = biases[layer] + bias if layer in biases else bias
    count = len(training)
    return {
        layer: Lre.estimated(model, template, training, layer, (weights[layer] / count).detach(), (biases[layer] / count).detach(),
                             beta, rank=rank, relation=relation)
        for layer in resolved
    }


@torch.no_grad()
def states_by_layer(model: LanguageModel, sites: Sequence[PromptSite], layers: Sequence[int], batch_size: int = 16) -> dict[int, PromptStates]:
    """`prompt_states` for several layers from one forward pass per batch."""
    last = model.num_layers - 1
    wanted = sorted(set(layers) | {last})
    subject: dict[int, list[torch.Tensor]] = {layer: [] for layer in layers}
    objects, logits = [], []
    for start in range(0, len(sites), batch_size):
        chunk = sites[start : start + batch_size]
        encoded = left_pad([s.token_ids for s in chunk], model.pad_id, model.device)
        result = model.forward(encoded, layers=wanted)
        rows = torch.arange(len(chunk))
        columns = torch.tensor([encoded.padded_index(i, s.subject_index) for i, s in enumerate(chunk)])
        for layer in layers:
            subject[layer].append(result.block_outputs[layer][rows, columns])
        objects.append(result.block_outputs[last][:, -1])
        logits.append(result.logits[:, -1])
    z, next_logits = torch.cat(objects), torch.cat(logits)
    return {layer: PromptStates(h=torch.cat(subject[layer]), z=z, logits=next_logits) for layer in layers}


# ---- the implicit path --------------------------------------------------------------------
def implicit_sweep_is_cheaper(layers: int, held_out_facts: int, hidden_size: int) -> bool:
    """Per training prompt, products cost layers x (held-out + 1) forward passes; forming every layer's W costs d
    backward rows (all layers at once). The margin is the one the know-check uses (IMPLICIT_SHARE)."""
    return layers * (held_out_facts + 1) <= IMPLICIT_SHARE * hidden_size


@dataclass(frozen=True)
class DecodedHeldOut:
    """One fold's LRE at one layer, known only on that fold's held-out states: W h and b computed by products,
    so that `faithfulness` can score it at any beta without forming W."""

    template: str
    training: tuple[tuple[str, str], ...]
    layer: int
    beta: float
    h: torch.Tensor  # (m, d): the held-out subject states
    weight_times_h: torch.Tensor  # (m, d): W h, float32
    bias: torch.Tensor  # (d,)
    rank: None = None
    method: str = "implicit"

    @classmethod
    def of(cls, model: LanguageModel, template: str, training: Sequence[Fact], layer: int, h: torch.Tensor, beta: float,
           relation: str) -> DecodedHeldOut:
        implicit = ImplicitLre(model, template, tuple(training), layer, beta, relation=relation)
        weighted = implicit.weight_times(h)
        decoded = cls(template, tuple((f.subject, f.object) for f in training), layer, float(beta), h, weighted,
                      implicit.bias)
        implicit.release()
        return decoded

    def with_beta(self, beta: float) -> DecodedHeldOut:
        return dataclasses.replace(self, beta=float(beta))

    def logits(self, model: LanguageModel, h: torch.Tensor) -> torch.Tensor:
        if h is not self.h:
            raise ValueError("this LRE was decoded on one fold's held-out states only; pass those states")
        with torch.no_grad():
            return model.decode_state((self.beta * self.weight_times_h + self.bias).to(model.dtype)).float()


# ---- scores -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Score:
    """Faithfulness counts pooled over folds: LRE right / tested, for each matching rule."""

    strict_right: int = 0
    strict_tested: int = 0
    lenient_right: int = 0
    lenient_tested: int = 0
    undecided: int = 0  # facts the model says (its top-1 starts the answer) whose first token cannot decide

    @classmethod
    def of(cls, report: FaithfulnessReport) -> Score:
        return cls(
            strict_right=sum(f.lre_strict for f in report.facts if f.strict_tested),
            strict_tested=report.tested_strict,
            lenient_right=sum(f.lre_lenient for f in report.facts if f.model_lenient),
            lenient_tested=sum(f.model_lenient for f in report.facts),
            undecided=sum(f.model_starts_answer and not f.strict_tested for f in report.facts),
        )

    def __add__(self, other: Score) -> Score:
        return Score(
            self.strict_right + other.strict_right,
            self.strict_tested + other.strict_tested,
            self.lenient_right + other.lenient_right,
            self.lenient_tested + other.lenient_tested,
            self.undecided + other.undecided,
        )

    @property
    def strict(self) -> float | None:
        return self.strict_right / self.strict_tested if self.strict_tested else None

    @property
    def lenient(self) -> float | None:
        return self.lenient_right / self.lenient_tested if self.lenient_tested else None


def choose(scores: dict, current: float) -> int | float:
    """The key (layer or beta) with the best strict score; ties: better lenient, then nearest `current`, then smaller."""
    def rank(key):
        score = scores[key]
        strict = -1.0 if score.strict is None else score.strict
        lenient = -1.0 if score.lenient is None else score.lenient
        return (strict, lenient, -abs(key - current), -key)

    return max(scores, key=rank)


@dataclass(frozen=True)
class TuneResult:
    suite: Suite
    n_train: int
    folds: tuple[tuple[Fact, ...], ...]
    held_out: tuple[tuple[Fact, ...], ...]  # per fold, the facts its LRE was scored on
    layer_scores: dict[int, Score]  # at base_beta
    beta_scores: dict[float, Score]  # at the chosen layer
    fold0_score: Score  # the chosen settings scored on fold 0 only: what the plugin will report
    current_layer: int  # the suite's layer before tuning (its pinned one, else the default)
    base_beta: float  # the suite's beta before tuning (its pinned one, else the default)
    layer: int
    beta: float
    seconds: float
    lre_path: str = "full"  # how the folds' LREs were applied: "full" (W formed) or "implicit" (products)
    folds_asked: int = DEFAULT_FOLDS  # the folds asked for; a suite too short for them gets fewer

    @property
    def score(self) -> Score:
        return self.beta_scores[self.beta]


def _quiet(message: str) -> None:
    pass


def tune_suite(
    model: LanguageModel,
    suite: Suite,
    *,
    layers: Sequence[int] | None = None,
    betas: Sequence[float] = DEFAULT_BETAS,
    folds: int = DEFAULT_FOLDS,
    max_held_out: int | None = DEFAULT_MAX_HELD_OUT,
    n_train: int | None = None,
    lre_path: str = "auto",
    progress: Progress = _quiet,
) -> TuneResult:
    """Sweep layers, then beta, with the protocol of the module docstring."""
    from factcheck.says.saycheck import SayOptions, prompts_too_long
    from factcheck.session import training_size

    started = time.perf_counter()
    n = training_size(suite) if n_train is None else n_train
    # Each prompt holds n demonstrations; past the model's positions the passes would fail with an IndexError.
    too_long = prompts_too_long(model, suite, SayOptions(shots=n, max_new_tokens=1))
    if too_long:
        raise TuneError("; ".join(f"{pointer}: {message}" for pointer, message in too_long)
                        + ": shorten the subject or the template, or lower the suite's settings.lre.n_train (the demonstrations per prompt)")
    candidates = sorted({int(resolve_layer(model, layer)) for layer in (layers or default_layers(model.num_layers))})
    settings = suite.settings.lre
    try:
        current_layer = resolve_layer(model, settings.layer)
    except ValueError:  # pinned for a deeper model: no current layer to prefer
        current_layer = resolve_layer(model, None)
    current_layer = -1 if current_layer == EMBEDDING_LAYER else int(current_layer)
    base_beta = settings.beta if settings.beta is not None else DEFAULT_BETA
    beta_grid = sorted(set(float(b) for b in betas) | {float(base_beta)})
    template = relation_parts(suite)[1]  # the first template, as the suite asks it (text or chat)
    fold_facts = make_folds(suite.facts, n, folds)
    scored_per_fold = len(held_out(suite.facts, fold_facts[0], max_held_out))
    implicit = _use_implicit(lre_path, settings.rank, len(candidates), scored_per_fold, model.hidden_size)

    # Per fold: the held-out prompts' states at every layer, and one LRE per layer (W formed, or W h decoded).
    estimates: list[dict[int, Lre | DecodedHeldOut]] = []
    fold_states: list[dict[int, PromptStates]] = []
    tests: list[tuple[Fact, ...]] = []
    for index, fold in enumerate(fold_facts):
        tick = time.perf_counter()
        test = held_out(suite.facts, fold, max_held_out)
        sites = query_sites(model, template, fold, [f.subject for f in test])
        states = states_by_layer(model, sites, candidates)
        if implicit:
            estimates.append({
                layer: DecodedHeldOut.of(model, template, fold, layer, states[layer].h, base_beta, suite.relation)
                for layer in candidates
            })
        else:
            estimates.append(estimate_layers(model, template, fold, candidates, beta=base_beta, rank=settings.rank,
                                             relation=suite.relation))
        fold_states.append(states)
        tests.append(test)
        progress(
            f"[tune] {suite.relation_id}: fold {index + 1}/{len(fold_facts)} (train facts {index * n + 1}-{(index + 1) * n}, "
            f"{len(test)} held out): {len(candidates)} layers in {time.perf_counter() - tick:.1f} s "
            f"({'W h by products' if implicit else 'W formed'})"
        )

    def fold_score(index: int, layer: int, beta: float) -> Score:
        lre = estimates[index][layer].with_beta(beta)
        # The relation given to faithfulness is the fold plus its held-out facts, in the order of the states.
        report = faithfulness(model, lre, fold_facts[index] + tests[index], states=fold_states[index][layer])
        return Score.of(report)

    def pooled(layer: int, beta: float) -> Score:
        return sum((fold_score(i, layer, beta) for i in range(len(fold_facts))), Score())

    layer_scores: dict[int, Score] = {}
    for layer in candidates:
        layer_scores[layer] = pooled(layer, base_beta)
        progress(f"[tune] {suite.relation_id}: layer {layer:>3}  {_describe(layer_scores[layer])}")
    if not any(score.strict_tested for score in layer_scores.values()):
        tested = sum(len(t) for t in tests)
        undecided = max(score.undecided for score in layer_scores.values())
        if undecided:
            raise TuneError(
                f"{suite.relation_id}: of the {tested} held-out facts, the {undecided} the model gets right all start with a "
                f"token that cannot decide (blank, or shared with another answer); nothing to tune on: {UNDECIDED_HINT}"
            )
        raise TuneError(f"{suite.relation_id}: the model gets none of the {tested} held-out facts right; nothing to tune on")
    layer = choose(layer_scores, current_layer)
    beta_scores = {beta: pooled(layer, beta) for beta in beta_grid}
    beta = choose(beta_scores, base_beta)
    progress(f"[tune] {suite.relation_id}: beta at layer {layer}: " + ", ".join(f"{b:g} -> {_ratio(s.strict)}" for b, s in beta_scores.items()))
    return TuneResult(
        suite=suite,
        n_train=n,
        folds=tuple(fold_facts),
        held_out=tuple(tests),
        layer_scores=layer_scores,
        beta_scores=beta_scores,
        fold0_score=fold_score(0, layer, beta),
        current_layer=current_layer,
        base_beta=float(base_beta),
        layer=layer,
        beta=beta,
        seconds=time.perf_counter() - started,
        lre_path="implicit" if implicit else "full",
        folds_asked=folds,
    )


def _use_implicit(lre_path: str, rank: int | None, layers: int, held_out_facts: int, hidden_size: int) -> bool:
    if lre_path not in LRE_PATHS:
        raise TuneError(f"lre_path must be one of {', '.join(LRE_PATHS)}, not {lre_path!r}")
    if lre_path == "implicit" and rank is not None:
        raise TuneError(f"settings.lre.rank is {rank}: a truncated W needs W's SVD, so use --lre-path full (or auto)")
    if lre_path != "auto":
        return lre_path == "implicit"
    return rank is None and implicit_sweep_is_cheaper(layers, held_out_facts, hidden_size)


def _ratio(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.3f}"


def _describe(score: Score) -> str:
    return (
        f"strict {_ratio(score.strict)} ({score.strict_right}/{score.strict_tested})  "
        f"lenient {_ratio(score.lenient)} ({score.lenient_right}/{score.lenient_tested})"
    )


def _fold_count(result: TuneResult) -> str:
    used = len(result.folds)
    if used >= result.folds_asked:
        return f"{used} fold(s)"
    return (f"{used} fold(s), not the {result.folds_asked} asked: the suite's {len(result.suite.facts)} facts make only "
            f"{used} complete fold(s) of {result.n_train}")


def format_result(result: TuneResult) -> str:
    """The table layer -> held-out faithfulness, the beta grid and the choice."""
    lines = [
        f"{result.suite.path}: {result.suite.relation} (n={result.n_train}, {_fold_count(result)}, "
        f"beta {result.base_beta:g} for the layer sweep; "
        f"{'W h decoded by products, W never formed' if result.lre_path == 'implicit' else 'W formed per fold'})",
        "  layer   strict  (right/tested)   lenient (right/tested)",
    ]
    for layer, score in result.layer_scores.items():
        mark = "*" if layer == result.layer else " "
        lines.append(
            f"  {mark}{layer:>4}   {_ratio(score.strict)}  ({score.strict_right:>3}/{score.strict_tested:<3})       "
            f"{_ratio(score.lenient)}  ({score.lenient_right:>3}/{score.lenient_tested:<3})"
        )
    lines.append(f"  beta at layer {result.layer}: " + "  ".join(
        f"{'*' if b == result.beta else ''}{b:g}: {_ratio(s.strict)}" for b, s in result.beta_scores.items()
    ))
    lines.append(
        f"  chosen: layer {result.layer}, beta {result.beta:g}: held-out strict {_ratio(result.score.strict)}, "
        f"lenient {_ratio(result.score.lenient)} ({result.seconds:.0f} s)"
    )
    return "\n".join(lines)


# ---- writing the choice into the suite file -------------------------------------------------
def format_suite_json(document: object) -> str:
    """The project's suite style: 2-space indent, the document and its container-holding members (the facts
    list, settings) expanded, everything deeper (each fact, templates, lists of aliases) on one line."""
    return _format(document, 0) + "\n"


def _format(value: object, depth: int) -> str:
    if isinstance(value, dict):
        children = list(value.values())
    elif isinstance(value, list):
        children = list(value)
    else:
        return json.dumps(value, ensure_ascii=False)
    holds_containers = any(isinstance(child, (dict, list)) for child in children)
    if not children or not (depth == 0 or (depth == 1 and holds_containers)):
        return json.dumps(value, ensure_ascii=False)
    pad = "  " * (depth + 1)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(key, ensure_ascii=False)}: {_format(child, depth + 1)}" for key, child in value.items()]
        opening, closing = "{", "}"
    else:
        items = [pad + _format(child, depth + 1) for child in children]
        opening, closing = "[", "]"
    return opening + "\n" + ",\n".join(items) + "\n" + "  " * depth + closing


def with_choice(document: dict, layer: int, beta: float) -> dict:
    """A copy of a suite document whose settings.lre holds `layer` and `beta`; all else (and key order) kept."""
    updated = json.loads(json.dumps(document))
    settings = updated.setdefault("settings", {})
    lre = settings.setdefault("lre", {})
    lre["layer"] = int(layer)
    lre["beta"] = float(beta)
    return updated


def write_choice(path: str | Path, layer: int, beta: float, tuned: str | None = None) -> bool:
    """Put `layer` and `beta` into the suite file's settings.lre; False when it already held them. `tuned`: the content
    hash of the suite as tuned; a file changed since (edited, or another branch checked out while a long run went on)
    is not written, as the choice was made for other facts or templates.

    The new text is loaded with `load_suite` under a temporary name in the same
    folder before it replaces the file, so a file that would not load is never
    written (SuiteError is raised and the original stays). A suite named through a link is written where the link
    points (the link stays), and keeps its permissions.
    """
    path = Path(path).resolve()
    if tuned is not None and (now := load_suite(path).content_hash) != tuned:
        raise SuiteError(str(path), [("", f"the suite changed since it was tuned (content hash {tuned} -> {now}): its "
                                          "choice was made for what the file held then")],
                         fix="run factcheck tune on it again")
    document = read_json_document(path)
    current = document.get("settings", {}).get("lre", {}) if isinstance(document, dict) else {}
    if current.get("layer") == layer and current.get("beta") == beta:
        return False
    text = format_suite_json(with_choice(document, layer, beta))
    fd, temporary = tempfile.mkstemp(prefix=temporary_prefix(path.name), suffix=".tune.tmp", dir=path.parent)
    try:
        replaced = path.stat()
        os.chmod(temporary, stat.S_IMODE(replaced.st_mode))
        give_the_owner_of(replaced, temporary)  # root in a CI container rewrites a checkout's suite, which stays its owner's
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        load_suite(temporary)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return True


# ---- the command --------------------------------------------------------------------------------
def suite_paths(arguments: Sequence[str], passed_over: list[Path] | None = None) -> list[Path]:
    """Suite files named on the command line; a folder stands for every *.json below it that is a regular file, its
    folder links followed (the others, a FIFO or a link to a device, and a folder link that loops, go to
    `passed_over`: the rest of the folder is tuned). A file named twice, or also found in a folder named, is tuned
    once: tuned again, the first write made it look changed since it was tuned."""
    paths: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            found, loops = json_files_below(path)
            paths += [p for p in found if p.is_file()]
            if passed_over is not None:
                passed_over += [p for p in found if not p.is_file()] + loops
        else:
            paths.append(path)  # named by the user: loading it says what is wrong with it
    first_named: dict[str, Path] = {}
    for path in paths:
        first_named.setdefault(os.path.realpath(path), path)
    return list(first_named.values())


def parse_layers(text: str) -> list[int]:
    try:
        layers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SettingError(f"--layers takes block indexes separated by commas, e.g. 4,6,8; got {text!r}") from None
    if not layers:
        raise SettingError("--layers is empty")
    return layers


def parse_betas(text: str) -> list[float]:
    try:
        betas = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SettingError(f"--betas takes numbers separated by commas, e.g. 1,2,3; got {text!r}") from None
    if not betas or any(not math.isfinite(b) or b <= 0 for b in betas):
        raise SettingError(f"--betas needs positive numbers, got {text!r}")
    return betas


def run_tune(args) -> int:
    """The `factcheck tune` subcommand (arguments from cli.build_parser)."""
    from factcheck.model.language_model import load_model

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    passed_over: list[Path] = []
    paths = suite_paths(args.suites, passed_over)
    for path in passed_over:
        why = "a folder link that leads back to a folder already read (a loop)" if path.is_dir() else "not a regular file"
        print(f"factcheck tune: skipped {path}: {why}", file=sys.stderr)
    if not paths:
        raise SettingError("no suite files found")
    layers = parse_layers(args.layers) if args.layers else None
    betas = parse_betas(args.betas)
    suites = [load_suite(path) for path in paths]  # every file is checked before the model loads
    model = load_model(args.model, dtype=args.dtype, device=args.device, trust_remote_code=args.trust_remote_code)
    results: list[TuneResult] = []
    failures = 0
    for suite in suites:
        try:
            result = tune_suite(
                model, suite, layers=layers, betas=betas, folds=args.folds, max_held_out=args.max_held_out,
                lre_path=args.lre_path, progress=progress
            )
        except TuneError as error:
            print(f"factcheck tune: {suite.path}: {error}", file=sys.stderr)
            failures += 1
            continue
        results.append(result)
        print(format_result(result) + "\n", flush=True)
        if args.write:
            try:
                changed = write_choice(suite.path, result.layer, result.beta, tuned=suite.content_hash)
            except SuiteError as error:
                print(f"factcheck tune: not written: {error}", file=sys.stderr)
                failures += 1
                continue
            except OSError as error:  # one suite's folder or name that takes no file: the others are still written
                print(f"factcheck tune: not written: {suite.path}: {error.strerror or error}", file=sys.stderr)
                failures += 1
                continue
            print(f"  {'written to' if changed else 'unchanged:'} {suite.path}\n")
    print(summary_table(results))
    if not args.write and results:
        print("dry run: nothing written; pass --write to save these layers and betas into the suite files")
    return 1 if failures else 0


def summary_table(results: Sequence[TuneResult]) -> str:
    lines = [
        f"{'suite':<44} {'layer':>9} {'beta':>10}  {'strict':>6} {'lenient':>7} {'tested':>6}  {'fold 0':>6}  {'LRE path':<8}",
    ]
    for r in results:
        before = "emb" if r.current_layer == -1 else r.current_layer  # the embedding layer, as the suite names it
        layer = f"{before}->{r.layer}" if r.current_layer != r.layer else f"{r.layer}"
        beta = f"{r.base_beta:g}->{r.beta:g}" if r.base_beta != r.beta else f"{r.beta:g}"
        lines.append(
            f"{str(r.suite.path):<44} {layer:>9} {beta:>10}  {_ratio(r.score.strict):>6} {_ratio(r.score.lenient):>7} "
            f"{r.score.strict_tested:>6}  {_ratio(r.fold0_score.strict):>6}  {r.lre_path:<8}"
        )
    return "\n".join(lines)
