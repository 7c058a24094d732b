"""Chat templates with a bound on what one operation may build.

A chat template is a program (Jinja, run in transformers' sandbox). A timeout stops one that loops, but not one that
builds gigabytes in a single operation ('x' * 10**9, "x"|center(10**9), '%1000000000s' % x): that takes the
machine's memory in under a second. `bound_chat_templates` makes transformers compile chat templates in a sandbox
that refuses such an operation before it runs (a Jinja SecurityError, which the chat check reports as a template
error). Real templates build prompts of kilobytes; the bound is far above that.
"""

from __future__ import annotations

import re
from functools import update_wrapper

from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

# Characters (or items) one operation of a template may build.
TEMPLATE_BUILD_LIMIT = 64 * 2**20
# Widths in a printf format ("%1000000000s") and in a str.format field ("{:>1000000000}").
_WIDTHS = re.compile(r"%[-#0 +]*(\d+)|\{[^{}]*:[^{}]*?(\d+)[^{}]*\}")
_PADDING_METHODS = ("center", "ljust", "rjust", "zfill", "expandtabs")
_FILTERS_WITH_A_WIDTH = ("center", "indent", "wordwrap", "truncate", "format")


def _too_long(what: str) -> SecurityError:
    return SecurityError(f"the chat template {what}, more than the {TEMPLATE_BUILD_LIMIT:,} characters a template may "
                         "build at once")


def _refuse_wide_formats(text: object) -> None:
    """A format width in `text` past the limit."""
    widths = [width for match in _WIDTHS.finditer(text) for width in match.groups() if width] if isinstance(text, str) else []
    if any(len(width) > 9 or int(width) > TEMPLATE_BUILD_LIMIT for width in widths):
        raise _too_long("formats text to a width")


def _refuse_large_numbers(values) -> None:
    if any(isinstance(value, int) and value > TEMPLATE_BUILD_LIMIT for value in values):
        raise _too_long("pads or wraps text to a width")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """transformers' sandbox, refusing a repetition, a power, a format or a padding past TEMPLATE_BUILD_LIMIT."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in _FILTERS_WITH_A_WIDTH:
            if name in self.filters:
                self.filters[name] = self._bounded_filter(self.filters[name])

    @staticmethod
    def _bounded_filter(original):
        def bounded(*args, **kwargs):
            _refuse_large_numbers([*args, *kwargs.values()])
            if original.__name__ == "do_format":  # "%1000000000s"|format(x)
                for value in args:
                    _refuse_wide_formats(value)
            return original(*args, **kwargs)

        return update_wrapper(bounded, original)

    def call_binop(self, context, operator, left, right):
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if (isinstance(sequence, (str, list, tuple)) and isinstance(count, int)
                        and len(sequence) * count > TEMPLATE_BUILD_LIMIT):
                    raise _too_long(f"repeats a text of {len(sequence):,} {count:,} times")
        if operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 4096:
            raise _too_long(f"raises a number to the power {right:,}")
        if operator == "%":
            _refuse_wide_formats(left)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's own signature
        if getattr(__obj, "__name__", None) in _PADDING_METHODS and isinstance(getattr(__obj, "__self__", None), str):
            _refuse_large_numbers([*args, *kwargs.values()])
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value):
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        _refuse_wide_formats(value.__self__)
        return wrapped


def bound_chat_templates() -> None:
    """Make transformers compile chat templates in BoundedSandbox from now on, in this process (templates compiled
    before are compiled again: its cache of compiled templates is emptied once)."""
    from transformers.utils import chat_template_utils

    if getattr(chat_template_utils, "ImmutableSandboxedEnvironment", None) is BoundedSandbox:
        return
    chat_template_utils.ImmutableSandboxedEnvironment = BoundedSandbox
    chat_template_utils._compile_jinja_template.cache_clear()
