"""The release gate: baselines, comparing a run with one, and `factcheck diff`. Importable without torch."""
