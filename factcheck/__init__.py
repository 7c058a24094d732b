"""factcheck: check what a language model says and what it knows, fact by fact."""

__version__ = "0.1.0"
