"""`factcheck tune`'s defaults, apart from the tuning itself: the CLI builds its parser from them without importing
torch (`factcheck diff` and `--version` need none)."""

DEFAULT_BETAS = (1.0, 2.0, 2.5, 3.0, 4.0)
DEFAULT_FOLDS = 3
DEFAULT_MAX_HELD_OUT = 100
LRE_PATHS = ("auto", "full", "implicit")
