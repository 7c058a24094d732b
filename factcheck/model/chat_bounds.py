"""Chat templates with a bound on what one operation may build.

A chat template is a program (Jinja, run in transformers' sandbox). A timeout stops one that loops, and a watch on the
process's memory one that builds text piece by piece, but neither stops one operation that builds gigabytes at once
('x' * 10**9, "x"|center(10**9), '%1000000000s' % x, a join or a print of a list holding one long text a million
times): it runs in C, holding the interpreter, and takes the machine's memory in under a second. `bound_chat_templates`
makes transformers compile chat templates in a sandbox that refuses each operation that could build more than
TEMPLATE_BUILD_LIMIT characters before it runs (a Jinja SecurityError, which the chat check reports as a template
error): repeating, joining, concatenating, replacing, formatting, padding, indenting and writing out a value. The other
operations build at most a few times what they are given, which is bounded so. Real templates build prompts of
kilobytes; the bound is far above that.
"""

from __future__ import annotations

import re
from collections.abc import ItemsView, KeysView, ValuesView
from functools import update_wrapper

from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace

# Characters (or items) one operation of a template may build.
TEMPLATE_BUILD_LIMIT = 64 * 2**20
# The conversion specs of a printf format ("%1000000000s", "%.200000000d", "%*s") and the fields of a str.format one
# ("{:>1000000000}", "{:>{}}"): every number in them is a width or a precision.
_PRINTF_SPECS = re.compile(r"%[-#0 +*\d.]*[a-zA-Z%]")
_FORMAT_FIELDS = re.compile(r"\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}")
_PADDING_METHODS = ("center", "ljust", "rjust", "zfill", "expandtabs")
_FILTERS_WITH_A_WIDTH = ("center", "indent", "wordwrap", "truncate", "format", "batch", "slice")
# Filters that write out a value, with the most characters each of its characters may become (an escape writes '"' as
# "&#34;", a URL's encoding a 4-byte character as twelve, an upper-case letter may become three).
_FILTERS_THAT_WRITE_A_VALUE = {"string": 1, "list": 1, "sum": 1, "join": 1, "replace": 1, "indent": 1, "format": 1,
                               "pprint": 2, "tojson": 6, "e": 6, "escape": 6, "forceescape": 6, "xmlattr": 6,
                               "urlencode": 12, "upper": 3, "lower": 3, "title": 3, "capitalize": 3}
_CASE_METHODS = ("upper", "lower", "title", "capitalize", "swapcase", "casefold")
_SPLITTING_METHODS = ("split", "rsplit", "splitlines")
# A text split into items takes some 60 bytes an item: longer ones than this are no prompt's pieces.
_SPLIT_LIMIT = TEMPLATE_BUILD_LIMIT // 16
_BOUNDED = "_factcheck_bounded"


def _too_long(what: str) -> SecurityError:
    return SecurityError(f"the chat template {what}, more than the {TEMPLATE_BUILD_LIMIT:,} characters a template may "
                         "build at once")


def _too_long_to_split(length: int) -> SecurityError:
    return SecurityError(f"the chat template splits a text of {length:,} characters into pieces (of some 60 bytes each), "
                         f"more than the {_SPLIT_LIMIT:,} characters a template may split at once")


def _held_by(namespace: Namespace) -> dict:
    """What a Jinja namespace holds (its attributes are kept apart from the object's own)."""
    return object.__getattribute__(namespace, "_Namespace__attrs")


def written_size(value: object, known: dict[int, int] | None = None) -> int:
    """About how many characters `value` takes written out (its str()), counting a piece it holds again for each place
    that holds it, as writing it out does; counting stops past TEMPLATE_BUILD_LIMIT."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Namespace):  # written out with all it holds
        value = _held_by(value)
    elif isinstance(value, (KeysView, ValuesView, ItemsView)):
        value = list(value)
    if not isinstance(value, (list, tuple, set, frozenset, dict)):
        return 24  # a number, None: a few characters (numbers past 10**4096 are refused where built)
    known = {} if known is None else known
    if id(value) in known:
        return known[id(value)]
    known[id(value)] = 5  # inside itself it is written "[...]"
    total = 2
    for item in (value.items() if isinstance(value, dict) else value):
        total += 2 + (written_size(item[0], known) + written_size(item[1], known) + 2 if isinstance(value, dict)
                      else written_size(item, known))
        if total > TEMPLATE_BUILD_LIMIT:
            break
    known[id(value)] = total
    return total


def _refuse_past_the_limit(size: int, what: str) -> None:
    if size > TEMPLATE_BUILD_LIMIT:
        raise _too_long(what)


def _refuse_wide_formats(text: object, arguments: list | None = None) -> None:
    """A width or a precision in the format `text` past the limit; one taken from the arguments ("%*s", "{:>{}}")
    is read there."""
    if not isinstance(text, str):
        return
    specs = [spec for spec in _PRINTF_SPECS.findall(text) if spec != "%%"] + _FORMAT_FIELDS.findall(text)
    numbers = [number for spec in specs for number in re.findall(r"\d+", spec)]
    if any(len(number) > 9 or int(number) > TEMPLATE_BUILD_LIMIT for number in numbers):
        raise _too_long("formats text to a width")
    if arguments and any("*" in spec or spec.count("{") > 1 for spec in specs):
        _refuse_large_numbers(arguments)


def _refuse_large_numbers(values) -> None:
    if any(isinstance(value, int) and value > TEMPLATE_BUILD_LIMIT for value in values):
        raise _too_long("pads or wraps text to a width")


def _refuse_a_large_format(form: object, arguments: list) -> None:
    """A format whose fields write its arguments many times over ('%s%s%s' % (x, x, x), '{0}{0}'.format(x)): each
    field is counted as the longest argument."""
    if isinstance(form, str):
        _refuse_wide_formats(form, arguments)
        fields = form.count("%") + form.count("{")
        longest = max((written_size(argument) for argument in arguments), default=0)
        _refuse_past_the_limit(len(form) + fields * longest, "formats a text")


def _arguments_of(value: object) -> list:
    if isinstance(value, dict):
        return list(value.values())
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _refuse_a_large_join(separator: object, items: object, attribute: object = None) -> None:
    count = len(items) if isinstance(items, (str, list, tuple, set, frozenset, dict)) else 0
    size = written_size(_attributes(items, attribute) if attribute is not None else items)
    _refuse_past_the_limit(size + len(str(separator)) * count, "joins texts")


def _attributes(items: object, attribute: object) -> list:
    """What a filter's `attribute=` takes from each item ("a", "a.b", an index), as far as it can be read here."""
    taken = []
    for item in items if isinstance(items, (list, tuple)) else []:
        for part in str(attribute).split("."):
            if isinstance(item, Namespace):
                item = _held_by(item).get(part)
            elif isinstance(item, dict):
                item = item.get(part, item.get(int(part)) if part.isdigit() else None)
            elif isinstance(item, (list, tuple)) and part.isdigit() and int(part) < len(item):
                item = item[int(part)]
            else:
                item = None
        taken.append(item)
    return taken


def _refuse_a_large_replacement(text: object, old: object, new: object) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str) and len(new) > len(old):
        occurrences = text.count(old) if old else len(text) + 1
        _refuse_past_the_limit(len(text) + occurrences * (len(new) - len(old)), "replaces text")


def _refuse_a_large_filter(name: str, args: list, kwargs: dict) -> None:
    """Refuse a filter that would write more than the limit; `args` start with the filtered value."""
    value = args[0] if args else kwargs.get("value", kwargs.get("s"))
    rest = args[1:]
    if name in _FILTERS_WITH_A_WIDTH and name != "format":  # a width or a count; format's numbers are its values
        _refuse_large_numbers([*rest, *kwargs.values()])
    if name == "join":
        _refuse_a_large_join(rest[0] if rest else kwargs.get("d", ""), value, rest[1] if len(rest) > 1 else kwargs.get("attribute"))
    elif name == "sum" and (attribute := rest[0] if rest else kwargs.get("attribute")) is not None:
        _refuse_past_the_limit(written_size(_attributes(value, attribute)), "adds lists")
    elif name == "replace" and len(rest) >= 2:
        _refuse_a_large_replacement(str(value), rest[0], rest[1])
    elif name == "format":
        _refuse_a_large_format(value, [*rest, *kwargs.values()])
    elif name == "indent":
        width = rest[0] if rest else kwargs.get("width", 4)
        width = len(width) if isinstance(width, str) else width if isinstance(width, int) else 4
        text = str(value) if isinstance(value, str) else ""
        _refuse_past_the_limit(len(text) + width * (text.count("\n") + 1), "indents text")
    elif name == "tojson":
        indent = rest[1] if len(rest) >= 2 else kwargs.get("indent")
        _refuse_past_the_limit(written_size(value) * (6 + (indent if isinstance(indent, int) and indent > 0 else 0)),
                               "writes a value as JSON")
    elif name == "wordcount" and isinstance(value, str) and len(value) > _SPLIT_LIMIT:
        raise _too_long_to_split(len(value))
    elif name in _FILTERS_THAT_WRITE_A_VALUE:
        _refuse_past_the_limit(written_size(value) * _FILTERS_THAT_WRITE_A_VALUE[name], f"writes out a value ({name})")


def _measurable(values: tuple) -> tuple:
    """`values` with an iterator among them made a list, whose written size can be known before it is joined or written
    out (making it runs the template's code, which the watch on time and memory can stop; the join runs in C)."""
    return tuple(list(value) if not isinstance(value, str) and hasattr(value, "__iter__") and not hasattr(value, "__len__")
                 else value for value in values)


def _bounded_concat(pieces) -> str:
    """Environment.concat, which joins a template's output: a loop may write one long text a million times."""
    pieces = list(pieces)
    _refuse_past_the_limit(sum(len(piece) for piece in pieces), "writes a text")
    return "".join(pieces)


def _bounded_output(value: object) -> object:
    """The environment's finalize, run on each value a template writes out before str() of it."""
    if not isinstance(value, str):
        _refuse_past_the_limit(written_size(value), "writes out a value")
    return value


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles `a ~ b` (Jinja's concatenation, which the sandbox does not intercept) to a bounded join."""

    def visit_Concat(self, node, frame) -> None:
        if frame.eval_ctx.volatile or frame.eval_ctx.autoescape:
            super().visit_Concat(node, frame)
            return
        self.write("environment.bounded_str_join((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """transformers' sandbox, refusing an operation that would build more than TEMPLATE_BUILD_LIMIT characters."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _BoundedCodeGenerator
    concat = staticmethod(_bounded_concat)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("finalize", _bounded_output)
        super().__init__(*args, **kwargs)

    def from_string(self, *args, **kwargs):
        # transformers sets its own filters (tojson) after building the environment: bound them where they are used.
        for name in {*_FILTERS_WITH_A_WIDTH, *_FILTERS_THAT_WRITE_A_VALUE, "wordcount"}:
            if name in self.filters and not getattr(self.filters[name], _BOUNDED, False):
                self.filters[name] = self._bounded_filter(name, self.filters[name])
        return super().from_string(*args, **kwargs)

    @staticmethod
    def _bounded_filter(name: str, original):
        def bounded(*args, **kwargs):
            # A filter may be given the environment or the evaluation context first.
            first = next((index for index, arg in enumerate(args)
                          if not isinstance(arg, (ImmutableSandboxedEnvironment, EvalContext))), len(args))
            args = (*args[:first], *_measurable(args[first:first + 1]), *args[first + 1:])
            _refuse_a_large_filter(name, list(args[first:]), kwargs)
            return original(*args, **kwargs)

        update_wrapper(bounded, original)
        setattr(bounded, _BOUNDED, True)
        return bounded

    def bounded_str_join(self, values) -> str:
        values = tuple(values)
        _refuse_past_the_limit(sum(written_size(value) for value in values), "concatenates texts")
        return "".join(map(str, values))

    def call_binop(self, context, operator, left, right):
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, (str, list, tuple)) and isinstance(count, int) and count > 0:
                    _refuse_past_the_limit(written_size(sequence) * count,
                                           f"repeats a {type(sequence).__name__} of {len(sequence):,} items {count:,} times")
        if operator == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            _refuse_past_the_limit(written_size(left) + written_size(right), "adds texts or lists")
        if operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 4096:
            raise _too_long(f"raises a number to the power {right:,}")
        if operator == "%":
            _refuse_a_large_format(left, _arguments_of(right))
        return super().call_binop(context, operator, left, right)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's own signature
        owner, name = getattr(__obj, "__self__", None), getattr(__obj, "__name__", None)
        if isinstance(owner, str):
            if name in _PADDING_METHODS:
                _refuse_large_numbers([*args, *kwargs.values()])
            if name == "expandtabs":
                size = args[0] if args else kwargs.get("tabsize", 8)
                _refuse_past_the_limit(len(owner) + owner.count("\t") * (size if isinstance(size, int) else 8),
                                       "expands tabs")
            elif name == "join" and args:
                args = (*_measurable(args[:1]), *args[1:])
                _refuse_a_large_join(owner, args[0])
            elif name in _CASE_METHODS:
                _refuse_past_the_limit(len(owner) * 3, "changes the case of a text")
            elif name in _SPLITTING_METHODS and len(owner) > _SPLIT_LIMIT:
                raise _too_long_to_split(len(owner))
            elif name == "replace" and len(args) >= 2:
                _refuse_a_large_replacement(owner, args[0], args[1])
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value):
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        form = value.__self__

        def bounded_format(*args, **kwargs):
            arguments = [*args, *kwargs.values()]
            if len(args) == 1 and not kwargs and isinstance(args[0], dict) and value.__name__ == "format_map":
                arguments = list(args[0].values())
            _refuse_a_large_format(form, arguments)
            return wrapped(*args, **kwargs)

        return bounded_format


def bound_chat_templates() -> None:
    """Make transformers compile chat templates in BoundedSandbox from now on, in this process (templates compiled
    before are compiled again: its cache of compiled templates is emptied once)."""
    from transformers.utils import chat_template_utils

    if getattr(chat_template_utils, "ImmutableSandboxedEnvironment", None) is BoundedSandbox:
        return
    chat_template_utils.ImmutableSandboxedEnvironment = BoundedSandbox
    chat_template_utils._compile_jinja_template.cache_clear()
