"""Security: no unsafe deserialisation or code execution in the sources, no remote code unless asked,
and no file outside the paths the user named is ever read or written because of what a suite says.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest

from factcheck.suites.importer import ImportFormatError, import_file, import_paths
from factcheck.suites.suite import suite_schema

ROOT = Path(__file__).resolve().parents[1]
SOURCE_FOLDERS = ("factcheck", "plugins")

# ---- a scan of the project's own Python sources ---------------------------------------------------

UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal", "jsonpickle"}
PICKLE_FUNCTIONS = {"read_pickle", "to_pickle"}  # pandas
CODE_BUILTINS = {"eval", "exec", "compile"}


def _dotted(node: ast.AST) -> str:
    """'torch.load' for the expression torch.load; '' for anything that is not a plain dotted name."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def _is_true(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def findings(source: str, filename: str = "<source>") -> list[str]:
    """Every unsafe construct in `source`, as 'file:line: what'."""
    found: list[str] = []

    def flag(node: ast.AST, what: str) -> None:
        found.append(f"{filename}:{getattr(node, 'lineno', '?')}: {what}")

    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in UNSAFE_MODULES:
                    flag(node, f"imports {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module.split(".")[0] in UNSAFE_MODULES:
                flag(node, f"imports from {module}")
            for alias in node.names:
                if alias.name in UNSAFE_MODULES | PICKLE_FUNCTIONS | CODE_BUILTINS:
                    flag(node, f"imports {alias.name} from {module}")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            keywords = {k.arg: k.value for k in node.keywords if k.arg}
            if name in CODE_BUILTINS or name in {f"builtins.{b}" for b in CODE_BUILTINS}:
                flag(node, f"calls {name}()")
            if name in {"__import__", "importlib.import_module", "import_module"} and node.args:
                target = node.args[0]
                if not isinstance(target, ast.Constant) or str(target.value).split(".")[0] in UNSAFE_MODULES:
                    flag(node, f"imports a module by name with {name}()")
            if name == "torch.load" and not _is_true(keywords.get("weights_only")):
                flag(node, "torch.load() without weights_only=True")
            if name == "torch.save":
                flag(node, "torch.save() writes a pickle; use safetensors")
            if name.split(".")[-1] in PICKLE_FUNCTIONS:
                flag(node, f"calls {name}()")
            if _is_true(keywords.get("allow_pickle")):
                flag(node, f"{name}(allow_pickle=True)")
            if _is_true(keywords.get("trust_remote_code")):
                flag(node, f"{name}(trust_remote_code=True)")
            if name in {"os.system", "os.popen"} or _is_true(keywords.get("shell")):
                flag(node, f"runs a shell via {name}()")
            if name == "yaml.load" and "Loader" not in keywords:
                flag(node, "yaml.load() without a safe Loader")
            if node.args and isinstance(node.args[0], ast.Constant) and "trust_remote_code" in str(node.args[0].value) \
                    and _is_true(keywords.get("default")):
                flag(node, "an option that trusts remote code by default")
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "trust_remote_code" and _is_true(value):
                    flag(node, "{'trust_remote_code': True}")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = node.args
            positional = arguments.posonlyargs + arguments.args
            defaults = [None] * (len(positional) - len(arguments.defaults)) + list(arguments.defaults)
            pairs = list(zip(positional, defaults)) + list(zip(arguments.kwonlyargs, arguments.kw_defaults))
            for argument, default in pairs:
                if argument.arg == "trust_remote_code" and default is not None and not (
                    isinstance(default, ast.Constant) and default.value is False
                ):
                    flag(node, f"{node.name}() defaults trust_remote_code to something other than False")
    return found


def project_sources() -> list[Path]:
    files = sorted(path for folder in SOURCE_FOLDERS for path in (ROOT / folder).rglob("*.py"))
    assert len(files) >= 10, files
    return files


def test_project_sources_have_no_pickle_eval_exec_or_remote_code():
    problems = [problem for path in project_sources() for problem in findings(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert problems == []


def test_project_sources_hold_no_pickle_text_at_all():
    """A looser, text-level check, for what the syntax tree misses (a module named in a string, say)."""
    for path in project_sources():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            assert "import pickle" not in code and "pickle.load" not in code and "pickle.dump" not in code, f"{path}:{number}"


@pytest.mark.parametrize(
    "snippet, what",
    [
        ("import pickle", "imports pickle"),
        ("import dill as d", "imports dill"),
        ("from pickle import loads", "imports from pickle"),
        ("from marshal import loads", "imports from marshal"),
        ("import importlib\nimportlib.import_module('pickle')", "imports a module by name"),
        ("__import__(name)", "imports a module by name"),
        ("import torch\ntorch.load(path)", "torch.load() without weights_only=True"),
        ("import torch\ntorch.load(path, weights_only=False)", "torch.load() without weights_only=True"),
        ("import torch\ntorch.save(state, path)", "torch.save()"),
        ("import pandas as pd\npd.read_pickle(path)", "calls pd.read_pickle()"),
        ("frame.to_pickle(path)", "calls frame.to_pickle()"),
        ("import numpy as np\nnp.load(path, allow_pickle=True)", "np.load(allow_pickle=True)"),
        ("eval(text)", "calls eval()"),
        ("exec(code)", "calls exec()"),
        ("compile(code, 'f', 'exec')", "calls compile()"),
        ("import builtins\nbuiltins.eval(text)", "calls builtins.eval()"),
        ("AutoModel.from_pretrained(name, trust_remote_code=True)", "trust_remote_code=True"),
        ("kwargs = {'trust_remote_code': True}", "{'trust_remote_code': True}"),
        ("def load(spec, *, trust_remote_code=True): pass", "defaults trust_remote_code"),
        ("def load(spec, trust_remote_code=None): pass", "defaults trust_remote_code"),
        ("parser.addini('factcheck_trust_remote_code', 'help', type='bool', default=True)", "trusts remote code by default"),
        ("import os\nos.system(command)", "runs a shell"),
        ("import subprocess\nsubprocess.run(command, shell=True)", "runs a shell"),
        ("import yaml\nyaml.load(text)", "yaml.load()"),
    ],
)
def test_the_scan_catches_each_unsafe_construct(snippet, what):
    problems = findings(snippet)
    assert len(problems) == 1 and what in problems[0], problems


@pytest.mark.parametrize(
    "snippet",
    [
        "model.eval()",
        "import re\nre.compile('x')",
        "import torch\ntorch.load(path, weights_only=True)",
        "AutoModel.from_pretrained(name, trust_remote_code=False)",
        "AutoModel.from_pretrained(name, trust_remote_code=trust_remote_code)",
        "def load(spec, *, trust_remote_code: bool = False): pass",
        "import safetensors.torch\nsafetensors.torch.save_file(tensors, path)",
        "text = 'we never import pickle'",
        "import subprocess\nsubprocess.run(['git', 'status'])",
        "import yaml\nyaml.load(text, Loader=yaml.SafeLoader)",
    ],
)
def test_the_scan_lets_safe_code_through(snippet):
    assert findings(snippet) == []


# ---- remote code through the plugin ------------------------------------------------------------------


@pytest.mark.parametrize("ini_line, expected", [("", False), ("factcheck_trust_remote_code = false\n", False), ("factcheck_trust_remote_code = true\n", True)])
def test_the_plugin_trusts_remote_code_only_when_the_ini_file_says_so(pytester, tiny_llama_folder, from_pretrained_calls, ini_line, expected):
    pytester.makeini(f"[pytest]\nfactcheck_model = {tiny_llama_folder}\n{ini_line}")
    pytester.makepyfile(test_trust_check="def test_model(factcheck_model):\n    assert factcheck_model.num_layers == 2\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "test_trust_check.py")
    result.assert_outcomes(passed=1)
    assert sorted(name for name, _ in from_pretrained_calls) == ["AutoModelForCausalLM", "AutoTokenizer"]
    assert all(kwargs.get("trust_remote_code") is expected for _, kwargs in from_pretrained_calls), from_pretrained_calls


# ---- suites cannot name paths ---------------------------------------------------------------------------


def _property_names(schema) -> set[str]:
    names: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):
                names |= set(value)
            names |= _property_names(value)
    elif isinstance(schema, list):
        for value in schema:
            names |= _property_names(value)
    return names


def test_the_suite_schema_has_no_path_fields_and_refuses_unknown_keys():
    schema = suite_schema()
    names = _property_names(schema)
    assert "relation" in names and "subject" in names
    suspicious = {"path", "file", "dir", "folder", "output", "out", "url", "uri", "model", "cache", "report", "baseline", "include", "import", "ref"}
    assert not [name for name in names if any(word in name.lower() for word in suspicious)], names
    # Every object in the schema is closed: an unknown key (a would-be path field) is an error.
    def objects(node):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                yield node
            for value in node.values():
                yield from objects(value)
        elif isinstance(node, list):
            for value in node:
                yield from objects(value)

    closed = list(objects(schema))
    assert len(closed) >= 4 and all(node.get("additionalProperties") is False for node in closed)


# ---- the importer writes only inside --out ----------------------------------------------------------------

HOSTILE_NAMES = [
    "../../evil",
    "../evil",
    "/etc/passwd",
    "..\\..\\evil",
    "C:\\Windows\\evil",
    "~/.ssh/authorized_keys",
    "evil/../../../escape",
    "a/b/c",
    "\uff0e\uff0e\uff0f\uff0e\uff0e\uff0fevil",  # fullwidth ../../ (NFKD turns it into ASCII)
    "\u2024\u2024/evil",  # one dot leaders
    "evil\\u0000name",  # a NUL, as the paper's files escape it
    "evil\x00name",
    "con",
    "-rf",
    ".hidden",
]


def _all_files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file() or path.is_symlink()}


def paper_file(folder: Path, name: str, relation_type: str = "factual") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"input_{len(list(folder.iterdir()))}.json"
    path.write_text(json.dumps({
        "name": name,
        "prompt_templates": ["The {} is"],
        "properties": {"relation_type": relation_type, "domain_name": "x", "range_name": "y"},
        "samples": [{"subject": "a", "object": "b"}, {"subject": "c", "object": "d"}],
    }), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_relation_names_cannot_put_the_importers_output_outside_out(tmp_path, name):
    source = paper_file(tmp_path / "src", name)
    out = tmp_path / "deep" / "down" / "out"
    before = _all_files(tmp_path)
    try:
        result = import_file(source, out)
    except ImportFormatError as error:
        assert error.problems[0][0] == "/name"
        assert _all_files(tmp_path) == before
        return
    output = result.output.resolve()
    assert output.is_relative_to(out.resolve()), output
    assert output.parent == (out / "factual").resolve()
    assert output.name.endswith(".json") and "/" not in output.stem and "\\" not in output.stem and not output.name.startswith(".")
    assert _all_files(tmp_path) - before == {result.output}


@pytest.mark.parametrize("relation_type", ["../../evil", "/etc", "..", "factual/../../evil"])
def test_relation_types_cannot_choose_the_output_folder(tmp_path, relation_type):
    source = paper_file(tmp_path / "src", "country capital", relation_type=relation_type)
    out = tmp_path / "out"
    result = import_file(source, out)
    assert result.output == out / "other" / "country_capital.json"


def test_names_that_give_no_file_name_or_a_huge_one_are_refused(tmp_path):
    out = tmp_path / "out"
    for name in ["..", "/", "\\", "....", "\u4e2d\u6587"]:
        with pytest.raises(ImportFormatError, match="empty file name") as caught:
            import_file(paper_file(tmp_path / "src", name), out)
        assert caught.value.problems[0][0] == "/name"
    with pytest.raises(ImportFormatError, match="at most 120") as caught:
        import_file(paper_file(tmp_path / "src", "a" * 5000), out)
    assert caught.value.problems[0][0] == "/name"
    assert not out.exists()


def test_hostile_names_in_a_folder_import_stay_inside_out(tmp_path):
    src = tmp_path / "src"
    for name in HOSTILE_NAMES:
        paper_file(src, name)
    out = tmp_path / "out"
    before = _all_files(tmp_path)
    report = import_paths([src], out)
    written = _all_files(tmp_path) - before
    assert written == {result.output for result in report.results}
    assert all(path.resolve().is_relative_to(out.resolve()) for path in written)
    assert report.results and len(report.results) + len(report.failures) == len(HOSTILE_NAMES)


@pytest.mark.skipif(os.name == "nt", reason="symlinks")
def test_a_symlink_at_the_output_path_is_replaced_not_followed(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me", encoding="utf-8")
    out = tmp_path / "out"
    (out / "factual").mkdir(parents=True)
    link = out / "factual" / "country_capital.json"
    link.symlink_to(target)
    source = paper_file(tmp_path / "src", "country capital")
    with pytest.raises(FileExistsError):
        import_file(source, out)
    assert target.read_text(encoding="utf-8") == "keep me"
    import_file(source, out, force=True)
    assert target.read_text(encoding="utf-8") == "keep me"
    assert not link.is_symlink() and json.loads(link.read_text(encoding="utf-8"))["relation"] == "country capital"


# ---- pytest writes only the report and baseline it was told to -------------------------------------------


def test_pytest_writes_only_the_report_and_baseline_named_whatever_the_suites_say(pytester, tiny_llama_folder, monkeypatch):
    monkeypatch.setenv("FACTCHECK_CACHE", str(pytester.path.parent / f"{pytester.path.name}-cache"))
    pytester.makeini(f"[pytest]\nfactcheck_model = {tiny_llama_folder}\nfactcheck_max_new_tokens = 2\nfactcheck_shots = 2\n")
    suites = pytester.path / "suites"
    suites.mkdir()
    hostile_subjects = ["../../evil", "/etc/passwd", "..", "a/b", "~/x", "C:\\evil", "report.json", "$HOME"]
    (suites / "evil_relation.json").write_text(json.dumps({
        "relation": "../../evil/../../etc/passwd",
        "description": "/tmp/evil",
        "templates": ["Path {subject} is"],
        "facts": [{"subject": s, "object": f"../out{i}"} for i, s in enumerate(hostile_subjects)],
    }), encoding="utf-8")
    (pytester.path / "results").mkdir()
    before = _all_files(pytester.path)
    outside_before = {p.name for p in pytester.path.parent.iterdir()}

    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "suites",
        "--factcheck-report=results/report.json",
        "--factcheck-baseline=results/baseline.json", "--factcheck-update-baseline",
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == len(hostile_subjects)
    written = _all_files(pytester.path) - before
    assert written == {pytester.path / "results" / "report.json", pytester.path / "results" / "baseline.json"}
    outside_now = {p.name for p in pytester.path.parent.iterdir()}
    assert not {name for name in outside_now - outside_before if "evil" in name or "passwd" in name or name.startswith("out")}
    cache = Path(os.environ["FACTCHECK_CACHE"])
    if cache.exists():
        assert not [p for p in cache.rglob("*") if "evil" in p.name or "passwd" in p.name]
