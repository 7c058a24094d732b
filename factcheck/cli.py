"""The `factcheck` command."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from pathlib import Path

from factcheck.display import is_utf8_text, terminal_text, visible_controls
from factcheck.errors import FactcheckError
from factcheck.signals import stop_as_ctrl_c


def _model_info(args: argparse.Namespace) -> int:
    from factcheck.model.language_model import load_model

    model = load_model(args.model, dtype=args.dtype, device=args.device, trust_remote_code=args.trust_remote_code)
    facts = model.describe()
    if args.json:
        print(json.dumps(facts, indent=2))
    else:
        width = max(len(k) for k in facts)
        for key, value in facts.items():
            print(f"{key.replace('_', ' '):<{width}}  {value}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from factcheck.suites.importer import import_paths

    report = import_paths(args.sources, args.out, force=args.force)
    for result in report.results:
        print(result.summary())
    for _path, message in report.failures:
        print(f"factcheck import: failed: {message}", file=sys.stderr)
    facts = sum(r.facts_out for r in report.results)
    print(f"imported {len(report.results)} file(s), {facts} facts, into {args.out}; {len(report.failures)} failed")
    # Non-zero when anything failed, even though the other files were written.
    return 0 if report.ok else 1


def _diff(args: argparse.Namespace) -> int:
    from factcheck.gate.diff import run_diff

    return run_diff(args.base, args.candidate, budget=args.budget, markdown=args.markdown,
                    only_relations_run=args.only_relations_run)


def _tune(args: argparse.Namespace) -> int:
    from factcheck.knows.tune import run_tune

    return run_tune(args)


def _whole_number(least: int, what: str = "a whole number", most: int | None = None):
    """An argparse type: a whole number of at least `least` (and at most `most`)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"expected {least} or more, got {value}")
        if most is not None and value > most:
            raise argparse.ArgumentTypeError(f"expected at most {most}, got {value}")
        return value

    return parse


_budget = _whole_number(0, "a whole number of regressions")
_positive = _whole_number(1)
# float32 keeps 24 bits of mantissa: rounding to more bits changes nothing, and 2**(bits - 1) must stay a number.
_round_bits = _whole_number(2, "a whole number of bits", most=24)


def _png_output_problem(path: Path) -> str | None:
    """Why the heatmap may not be written to `path`: a file there is replaced only when it is a heatmap factcheck wrote
    (a suite, a model, or another image would be lost)."""
    from factcheck.cache import unwritable_reason
    from factcheck.knows.lens import is_lens_png

    reason = unwritable_reason(path)
    if reason:
        return f"cannot be written: {reason}"
    if path.is_file():
        with path.open("rb") as handle:
            head = handle.read(_PNG_HEAD_BYTES)
        if not head.startswith(b"\x89PNG\r\n\x1a\n"):
            return "is a file that is not a PNG image (a suite, a model or another file would be lost); give a new path"
        if not is_lens_png(head):
            return "is a PNG image that factcheck lens did not write (it would be lost); give a new path"
    return None


_PNG_HEAD_BYTES = 64 * 1024  # a heatmap's text chunks lie in its first few hundred bytes


def _lens(args: argparse.Namespace) -> int:
    from factcheck.knows.lens import attribute_lens, render_png, render_text
    from factcheck.model.language_model import load_model
    from factcheck.session import lre_for_suite
    from factcheck.suites.suite import load_suite

    if args.target is not None and not args.target.strip():
        print("factcheck lens: error: --target is empty: give the answer whose first token colours the heatmap, or "
              "leave it out", file=sys.stderr)
        return 2
    for name, text in (("the prompt", args.prompt), ("--target", args.target or "")):
        if not is_utf8_text(text):  # bytes the shell passed that are no UTF-8: no tokenizer takes them
            print(f"factcheck lens: error: {name} {visible_controls(text)!r} has bytes that are not UTF-8 text (is the "
                  "terminal set to another encoding?); give it as UTF-8", file=sys.stderr)
            return 2
    suite = load_suite(args.relation)
    problem = _png_output_problem(Path(args.png)) if args.png else None
    if problem:
        print(f"factcheck lens: error: --png {args.png}: {problem}", file=sys.stderr)
        return 2
    model = load_model(args.model, dtype=args.dtype, device=args.device, trust_remote_code=args.trust_remote_code)
    length, limit = len(model.tokenize([model.bos_text + args.prompt])[0][0]), model.context_length
    if limit is not None and length > limit:
        print(f"factcheck lens: error: the prompt is {length} tokens, more than the model's {limit} positions; shorten it",
              file=sys.stderr)
        return 2
    print(f"LRE for {suite.relation_id} ...", file=sys.stderr, flush=True)
    lre, hit = lre_for_suite(model, suite)
    print(f"LRE: layer {lre.layer}, beta {lre.beta} ({'cached' if hit else 'estimated'})", file=sys.stderr)
    grid = attribute_lens(model, lre, model.bos_text + args.prompt, target=args.target, last_positions=args.positions)
    print(render_text(grid, last_positions=args.positions))
    if args.png:
        try:
            path = render_png(grid, args.png, title=f"attribute lens ({suite.relation}): {args.prompt!r}", last_positions=args.positions)
        except OSError as error:  # a full disk, a folder that went away: the earlier heatmap there is kept whole
            raise FactcheckError(f"--png {visible_controls(str(args.png))} cannot be written ({error.strerror or error}); "
                                 "free space there, or give another --png path") from None
        print(f"heatmap written to {path}", file=sys.stderr)
    return 0


def version_text() -> str:
    """factcheck's version and those of the libraries its results depend on (read without importing them)."""
    from importlib.metadata import PackageNotFoundError, version

    from factcheck import __version__

    def installed(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    libraries = ", ".join(f"{name} {installed(name)}" for name in ("torch", "transformers", "pytest"))
    return f"factcheck {__version__} (Python {sys.version.split()[0]}; {libraries})"


def _degrade(args: argparse.Namespace) -> int:
    import shlex

    from factcheck.model.degrade import ablate_mlp, check_output_folder, round_weights, save_model
    from factcheck.model.language_model import load_model

    if args.round_bits is None and not args.ablate_mlp:
        print("factcheck degrade: error: say how to degrade: --round-bits N and/or --ablate-mlp BLOCK", file=sys.stderr)
        return 2
    repeated = sorted({block for block in args.ablate_mlp or () if args.ablate_mlp.count(block) > 1})
    if repeated:
        print(f"factcheck degrade: error: --ablate-mlp names block(s) {repeated} more than once; name each block once",
              file=sys.stderr)
        return 2
    check_output_folder(Path(args.out), args.model, replace=args.force)  # before a load that may take minutes
    model = load_model(args.model, dtype=args.dtype, device="cpu", trust_remote_code=args.trust_remote_code)
    print(f"{visible_controls(model.name)}: fingerprint {model.fingerprint}", file=sys.stderr)
    # A block counted from the end is one counted from the start ("1" and "-1" of a 2-block model): known only now.
    blocks = [block % model.num_layers if -model.num_layers <= block < 0 else block for block in args.ablate_mlp or ()]
    if repeated := sorted({block for block in blocks if blocks.count(block) > 1}):
        print(f"factcheck degrade: error: --ablate-mlp names block(s) {repeated} more than once (counted from the start "
              f"of the model's {model.num_layers} blocks); name each block once", file=sys.stderr)
        return 2
    degraded = model
    if args.round_bits is not None:
        degraded = round_weights(degraded, args.round_bits)
        print(f"rounded every Linear, Embedding and expert weight to {args.round_bits} bits per output row: fingerprint "
              f"{degraded.fingerprint}", file=sys.stderr)
    for block in args.ablate_mlp or ():
        degraded = ablate_mlp(degraded, block)
        print(f"zeroed the MLP output of block {block}: fingerprint {degraded.fingerprint}", file=sys.stderr)
    folder = save_model(degraded, args.out, replace=args.force)
    print(f"wrote {visible_controls(degraded.name)} to {visible_controls(str(folder))}")
    print(f"gate it: pytest suites/ --factcheck-model={shlex.quote(visible_controls(str(folder)))} --factcheck-report=candidate.json")
    return 0


def build_parser() -> argparse.ArgumentParser:
    # Raw: argparse would wrap the --version line.
    parser = argparse.ArgumentParser(prog="factcheck", description="Fact-regression harness for language models.",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=version_text())
    commands = parser.add_subparsers(dest="command", required=True)

    model = commands.add_parser("model", help="inspect a model").add_subparsers(dest="model_command", required=True)
    info = model.add_parser("info", help="print architecture, size, dtype, device, fingerprint and load time")
    info.add_argument("model", nargs="?", default=None, help="hub id, local folder, GGUF file, or 'smollm2' (default)")
    info.add_argument("--dtype", default="float32")
    info.add_argument("--device", default="cpu")
    info.add_argument("--trust-remote-code", action="store_true", help="run code shipped with the model (off by default)")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=_model_info)

    importer = commands.add_parser("import", help="convert LRE paper-format relation files into suites")
    importer.add_argument("sources", nargs="+", metavar="SRC", help="a relation file, or a folder searched recursively for *.json")
    importer.add_argument("--out", required=True, metavar="DIR", help="write suites to DIR/<category>/<relation>.json")
    importer.add_argument("--force", action="store_true", help="replace existing output files")
    importer.set_defaults(handler=_import)

    diff = commands.add_parser(
        "diff", help="compare a candidate's results with a baseline: regressions, fixes, accuracy deltas",
        description="Exit 0 when regressions <= budget, 1 when over budget, 2 on bad input.",
    )
    diff.add_argument("base", metavar="BASE.json", help="baseline file or JSON report of the reference model")
    diff.add_argument("candidate", metavar="CANDIDATE.json", help="baseline file or JSON report of the model to gate")
    diff.add_argument("--budget", type=_budget, default=0, metavar="N", help="regressions allowed before failing (default: 0)")
    diff.add_argument("--markdown", action="store_true", help="print GitHub-flavoured markdown (for a CI job summary)")
    diff.add_argument("--only-relations-run", action="store_true",
                      help="compare only the relations the candidate ran (it ran some suites on purpose); by default a "
                           "relation of the base with facts said right that the candidate did not run fails")
    diff.set_defaults(handler=_diff)

    lens = commands.add_parser(
        "lens", help="attribute lens: decode a relation's LRE at every layer and token of a prompt"
    )
    lens.add_argument("prompt", help='any text, e.g. "Bill Bradley was a"')
    lens.add_argument("--relation", required=True, help="suite file whose relation's LRE to apply")
    lens.add_argument("--model", default=None, help="hub id, local folder, GGUF file, or 'smollm2' (default)")
    lens.add_argument("--target", default=None, help="colour the heatmap by the probability of this answer's first token")
    lens.add_argument("--png", default=None, help="also write a heatmap image here")
    lens.add_argument("--positions", type=_positive, default=12, help="how many of the prompt's last tokens to show (default 12)")
    lens.add_argument("--dtype", default="float32")
    lens.add_argument("--device", default="cpu")
    lens.add_argument("--trust-remote-code", action="store_true")
    lens.set_defaults(handler=_lens)

    degrade = commands.add_parser(
        "degrade", help="write a degraded copy of a model (rounded weights, ablated MLPs) to rehearse the release gate",
        description="Load a model, degrade a copy of it and save the copy as a folder that --factcheck-model loads "
        "(safetensors, float32 by default). Rounding is applied first, then each ablation.",
    )
    degrade.add_argument("--model", default=None, help="hub id, local folder, GGUF file, or 'smollm2' (default)")
    degrade.add_argument("--out", required=True, metavar="DIR", help="folder to write the degraded model to (new or empty)")
    degrade.add_argument("--round-bits", type=_round_bits, metavar="N",
                         help="round every Linear, Embedding and expert weight to N bits per output row (2 to 24; 5 costs SmolLM2 a few facts)")
    degrade.add_argument("--ablate-mlp", type=int, action="append", metavar="BLOCK",
                         help="zero the MLP output of block BLOCK (negative counts from the end; repeat for several)")
    degrade.add_argument("--force", action="store_true",
                         help="replace DIR when it holds an earlier model (a folder of nothing but a model's files)")
    degrade.add_argument("--dtype", default="float32")
    degrade.add_argument("--trust-remote-code", action="store_true", help="run code shipped with the model (off by default)")
    degrade.set_defaults(handler=_degrade)

    from factcheck.knows.tune_defaults import DEFAULT_BETAS, DEFAULT_FOLDS, DEFAULT_MAX_HELD_OUT, LRE_PATHS

    tune = commands.add_parser(
        "tune", help="choose each suite's LRE layer and beta by faithfulness on held-out facts",
        description="Sweep layers (then beta) on each suite's training facts with held-out folds and print "
        "layer -> faithfulness. Dry run by default: --write saves the chosen settings.lre.layer and beta "
        "into the suite files (replacing pinned values; all else in the file is kept).",
    )
    tune.add_argument("suites", nargs="+", metavar="SUITE", help="a suite file, or a folder searched recursively for *.json")
    tune.add_argument("--layers", metavar="L,L,...", help="candidate blocks, e.g. 4,6,8 (default: 1, 3, 5, ... up to 80%% of the depth)")
    tune.add_argument("--betas", default=",".join(f"{b:g}" for b in DEFAULT_BETAS), metavar="B,B,...",
                      help="beta grid tried at the best layer (default: %(default)s; the suite's current beta is always tried)")
    tune.add_argument("--folds", type=_positive, default=DEFAULT_FOLDS, metavar="K",
                      help="folds of n training facts from the suite's first K*n facts; the first is the plugin's training set (default: %(default)s)")
    tune.add_argument("--max-held-out", type=_positive, default=DEFAULT_MAX_HELD_OUT, metavar="N", help="held-out facts scored per fold (default: %(default)s)")
    tune.add_argument("--lre-path", choices=LRE_PATHS, default="auto",
                      help="full: form each layer's W; implicit: decode the held-out states by products without W "
                      "(exact, cheaper for few layers or held-out facts or a wide model); auto (default): the cheaper")
    tune.add_argument("--model", default=None, help="hub id, local folder, GGUF file, or 'smollm2' (default)")
    tune.add_argument("--dtype", default="float32")
    tune.add_argument("--device", default="cpu")
    tune.add_argument("--trust-remote-code", action="store_true", help="run code shipped with the model (off by default)")
    mode = tune.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="save the chosen layer and beta into each suite file")
    mode.add_argument("--dry-run", action="store_true", help="print only (the default)")
    tune.set_defaults(handler=_tune)
    return parser


def main(argv: list[str] | None = None) -> int:
    _escape_what_the_output_cannot_encode()
    with _controls_escaped():
        return _main(argv)


class _EscapingStream:
    """A text stream that writes control characters out as escapes (`terminal_text`)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(terminal_text(text))

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


@contextlib.contextmanager
def _controls_escaped():
    """Every line a command prints has its control characters escaped: a model's, a suite's or a prompt's name with an
    escape sequence or a carriage return would rewrite the terminal or forge a line."""
    kept = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _EscapingStream(sys.stdout), _EscapingStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = kept


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with _signals_stop_as_ctrl_c():
            return args.handler(args)
    except (FactcheckError, OSError) as error:
        print(f"factcheck: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        # Every command writes its outputs whole or not at all: say so, without a traceback.
        print(f"factcheck: {str(stop) or 'interrupted (Ctrl-C)'}; no output was left half-written", file=sys.stderr)
        return 128 + getattr(stop, "signal_number", signal.SIGINT)
    except Exception:  # noqa: BLE001 - unforeseen: shown whole, and never exit 1, which `diff` gives for regressions
        import traceback

        traceback.print_exc()
        print(f"factcheck: error: the {args.command} command failed unexpectedly (the traceback above says where); "
              "exit 2, as for any error", file=sys.stderr)
        return 2


@contextlib.contextmanager
def _signals_stop_as_ctrl_c():
    """SIGTERM (`timeout`, a CI job's cancel) and SIGHUP (a closed terminal) stop a command as Ctrl-C does, so that
    what it was writing is cleaned up (a 500 MB folder of `degrade` would be left behind); only where nothing else
    handles them, and in the main thread."""
    back_to_the_defaults = stop_as_ctrl_c()
    try:
        yield
    finally:
        back_to_the_defaults()


def _escape_what_the_output_cannot_encode() -> None:
    """Text the terminal's encoding lacks ("Côte d'Ivoire" under LC_ALL=C or PYTHONIOENCODING=ascii) is written as
    escapes, as pytest writes it, rather than ending the command with a traceback and exit 1 ("over budget")."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)  # a stream replaced by a caller may have none
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


if __name__ == "__main__":
    sys.exit(main())
