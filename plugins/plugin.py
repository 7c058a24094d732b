"""pytest plugin: JSON fact suites become tests of what a language model says and knows."""

from __future__ import annotations


def pytest_addoption(parser):
    group = parser.getgroup("factcheck", "fact-regression checks of a language model")
    group.addoption("--factcheck-model", dest="factcheck_model", default=None, help="model to check (default: the embedded SmolLM2)")
    parser.addini("factcheck_model", "model to check (default: the embedded SmolLM2)", default=None)
