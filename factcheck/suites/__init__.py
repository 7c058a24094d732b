"""Fact suites: reading and checking suite files, building prompts, importing the LRE paper's relations."""
