"""The sandbox message templates render in: Jinja2's immutable sandbox, and a budget for every render.

Jinja's sandbox keeps a template away from Python's internals, but not away from the machine: one
``{{ (((9**999)**999)**999) }}`` or ``{{ 'a'|center(10**9) }}`` holds the interpreter (and its lock) in a
single C call for minutes or allocates gigabytes, and a server rendering it stops answering anything
else. Here every render runs under a :class:`Budget` (:class:`RenderLimits`: a wall-clock deadline, a
count of operations, a largest value, the longest output of a part), and the template never gets the
chance to start an operation that could outgrow it:

- Every binary operator goes through :meth:`Sandbox.call_binop`, which sizes the result from the
  operands *before* computing it: ``**`` and ``*`` on integers by their bits, ``*`` and ``+`` on strings
  and lists by their length, ``%`` by the widths in its format string and the size of its arguments.
- Every call goes through :meth:`Sandbox.call`: the string methods that can grow a value (``center``,
  ``ljust``, ``zfill``, ``replace``, ``join``, ``translate``, ``expandtabs``...) and ``int.to_bytes`` are
  sized first; ``str.format`` runs with a formatter that refuses huge widths and keeps a running length.
- Every filter is wrapped: the ones that can grow a value (``center``, ``indent``, ``wordwrap``,
  ``replace``, ``join``, ``format``, ``batch``, ``slice``, ``sum``, ``round``, ``urlencode``) are sized
  first, and every result is checked. ``range`` counts its length, ``lipsum`` is sized.
- Every ``{% for %}`` iteration, binary operation, call and filter counts against the operation budget
  and checks the deadline; lists, tuples and dicts a template builds are weighed as they would print
  (a list holding the same big string twice weighs it twice, so nesting cannot double a value twenty
  times over); ``~``, captured blocks and macro bodies are joined with a length check; and the output of
  a part is streamed with a running length.

So between two checks a template can only do a bounded amount of work on values of bounded size, and a
render that runs out of budget stops with :class:`LimitExceeded` (a ``SecurityError``) naming the limit.
The budget is per render, held in a thread-local (rendering is synchronous), and costs a few
microseconds a message.
"""

from __future__ import annotations

import gc
import re
import threading
import time
import types
from _string import formatter_field_name_split
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from functools import update_wrapper
from itertools import chain
from string import Formatter
from typing import TYPE_CHECKING, Any

from jinja2 import nodes, pass_context
from jinja2.filters import make_attrgetter
from jinja2.runtime import Context, markup_join
from jinja2.sandbox import (
    MAX_RANGE,
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
    SecurityError,
)
from jinja2.utils import Cycler, Namespace, generate_lorem_ipsum
from jinja2.visitor import NodeTransformer
from markupsafe import Markup, soft_str

if TYPE_CHECKING:
    from jinja2 import Template

    from touchline.settings import Settings

__all__ = ["MAX_INT_BITS", "Budget", "LimitExceeded", "RenderLimits", "Sandbox", "configure",
           "current_limits", "swap_budget", "unsafe_constructs"]

KIB = 1024
# Integers a template computes stay below Python's 4,300-digit limit for printing them (~14,280 bits), so
# every integer it makes can be printed, and multiplying two of them takes microseconds.
MAX_INT_BITS = 14_000


@dataclass(frozen=True)
class RenderLimits:
    """What one render (all the parts of one message) may cost. Settings ``TOUCHLINE_TEMPLATE_*``."""

    timeout: float = 0.1  # seconds of CPU for the whole message (wall clock: WALL_FACTOR times as long)
    max_operations: int = 200_000  # loop iterations, operators, calls, filters, items sized or made
    max_output: int = 64 * KIB  # characters of one part (subject, text, title, a messenger param...)
    max_html_output: int = 256 * KIB  # characters of an e-mail's html part
    max_value: int = 256 * KIB  # characters of any one string, or printed size of a list, a template builds

    @classmethod
    def from_settings(cls, settings: Settings) -> RenderLimits:
        return cls(timeout=settings.template_render_timeout_ms / 1000,
                   max_operations=settings.template_max_operations,
                   max_output=settings.template_max_output_kib * KIB,
                   max_html_output=settings.template_max_html_kib * KIB,
                   max_value=settings.template_max_value_kib * KIB)

    def output_limit(self, part: str) -> int:
        return self.max_html_output if part == "html" else self.max_output


_limits = RenderLimits()


def configure(limits: RenderLimits | Settings) -> None:
    """Set the process's render limits (``create_app`` does, from its settings)."""
    global _limits
    _limits = limits if isinstance(limits, RenderLimits) else RenderLimits.from_settings(limits)


def current_limits() -> RenderLimits:
    return _limits


class LimitExceeded(SecurityError):
    """A render went over one of its limits (time, operations, size)."""


# The clock is the thread's CPU time, less the garbage collector's: a render is charged for the work it
# does, not for the machine being busy with other processes, the interpreter lock being held by other
# threads, or a full collection of everybody's garbage starting during it (any of these would fail a
# well-behaved template now and then). Wall-clock time is a backstop, WALL_FACTOR times as long (at least
# a second): a render never runs on for minutes on a machine too busy to give it its CPU time. Reading the
# CPU clock costs a system call (~1.5 µs), so the clocks are read every CLOCK_EVERY operations, and first
# only after CLOCK_EVERY: a render that small never reads them.
CLOCK_EVERY = 64
WALL_FACTOR = 10
_gc_seconds = 0.0  # CPU seconds spent collecting garbage since start-up (on any thread: lenient)
_gc_started = 0.0


def _count_gc(phase: str, info: Mapping[str, Any]) -> None:
    global _gc_seconds, _gc_started
    if phase == "start":
        _gc_started = time.thread_time()
    else:
        _gc_seconds += max(time.thread_time() - _gc_started, 0.0)


gc.callbacks.append(_count_gc)


def _cpu() -> float:
    return time.thread_time() - _gc_seconds


class Budget:
    """One render's allowance; :meth:`tick` at every hook. Once spent it stays spent: every later check
    raises again, so nothing that swallows one exception lets the render go on."""

    __slots__ = ("clock_at", "deadline", "limits", "max_value", "operations", "sizes", "timed_out", "wall_deadline")

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.max_value = limits.max_value
        self.operations = limits.max_operations
        self.clock_at = self.operations - CLOCK_EVERY  # look at the clock when operations fall below this
        self.deadline = 0.0  # set at the first reading: the first CLOCK_EVERY operations are not timed
        self.wall_deadline = 0.0
        self.timed_out = False
        # id -> (container, size) of the last few big containers sized, each kept alive while remembered
        # (so that its id is not reused): a list grown step by step in a loop is sized once, not per step.
        self.sizes: dict[int, tuple[Any, int]] = {}

    def tick(self, n: int = 1) -> None:
        self.operations -= n
        if self.operations < self.clock_at:
            self.check()

    def check(self) -> None:
        """The slow half of :meth:`tick`: operations spent, or the clocks."""
        if self.operations < 0:
            raise LimitExceeded(f"more than {self.limits.max_operations:,} operations (loop iterations, "
                                "operators, calls, filters)")
        if not self.timed_out:
            self.clock_at = self.operations - CLOCK_EVERY
            now, wall = _cpu(), time.monotonic()
            if not self.deadline:
                self.deadline = now + self.limits.timeout
                self.wall_deadline = wall + max(self.limits.timeout * WALL_FACTOR, 1.0)
                return
            if now <= self.deadline and wall <= self.wall_deadline:
                return
            self.timed_out = True
        self.clock_at = self.operations + 1  # every later tick comes back here
        raise LimitExceeded(f"rendering took longer than {self.limits.timeout * 1000:g} ms")

    def too_big(self, size: int, what: str) -> None:
        if size > self.max_value:
            raise LimitExceeded(f"{what} would be {_approx(size)} characters; at most {self.max_value:,}")


def _approx(size: int) -> str:
    return f"{size:,}" if size < 10**15 else f"about 10^{len(str(size)) - 1}"


class _State(threading.local):
    budget: Budget | None = None  # the render going on in this thread


_state = _State()


def current() -> Budget:
    """The render's budget; outside a render (a constant folded at compile time), a fresh default one."""
    return _state.budget or Budget(_limits)


def swap_budget(budget: Budget | None) -> Budget | None:
    """Make ``budget`` the one this thread's renders count against; returns the one it replaces. A render:
    ``outer = swap_budget(Budget(limits))``, render, then ``swap_budget(outer)`` in a ``finally``."""
    outer, _state.budget = _state.budget, budget
    return outer


# --- sizes -----------------------------------------------------------------------------------------

_NAMESPACE_ATTRS = "_Namespace__attrs"


_END = object()
_SEQUENCES = (list, tuple, set, frozenset)


def _children(value: Any) -> tuple[int, Iterator[Any]] | None:
    """A container's own printed size (brackets, separators) and its parts; None for anything else."""
    kind = type(value)
    if kind is list or kind is tuple or isinstance(value, _SEQUENCES):
        return 2 + 2 * len(value), iter(value)
    if kind is dict or isinstance(value, Mapping):
        return 2 + 4 * len(value), chain(value.keys(), value.values())
    if isinstance(value, Cycler):
        return 16, iter((value.items,))
    if isinstance(value, Namespace):
        return 16, iter((getattr(value, _NAMESPACE_ATTRS, {}),))
    return None


def _leaf(value: Any) -> int:
    kind = type(value)
    if kind is str or kind is bytes or isinstance(value, str | bytes):
        return len(value) + 2
    if kind is int or isinstance(value, int):
        return value.bit_length() // 3 + 1
    return 8


def weight(value: Any, limit: int, budget: Budget | None = None) -> tuple[int, int]:
    """``(size, visited)``: about how many characters ``value`` prints as, counting a part it holds twice
    twice, and how many objects were looked at. Each distinct container is looked at once (a list
    holding itself nested forty times over costs forty steps, and weighs 2**40 times its leaf), the walk
    stops as soon as the size passes ``limit``, and a long walk counts against ``budget`` as it goes."""
    if isinstance(value, str | bytes):
        return len(value), 1
    top = _children(value)
    if top is None:
        return _leaf(value), 1
    sizes: dict[int, int] = {}  # id -> size of the containers done
    known = budget.sizes if budget is not None else {}
    active = {id(value)}
    frames: list[list[Any]] = [[value, top[1], top[0]]]
    visited = 1
    while True:
        frame = frames[-1]
        child = next(frame[1], _END)
        if child is _END:
            frames.pop()
            active.discard(id(frame[0]))
            sizes[id(frame[0])] = frame[2]
            if not frames:
                return frame[2], visited
            frames[-1][2] += frame[2]
            frame = frames[-1]
        else:
            visited += 1
            if budget is not None and not visited & 4095:
                budget.tick(256)
            kind = type(child)
            if kind is int or kind is str or kind is float or child is None or kind is bool:
                frame[2] += _leaf(child)
            elif id(child) in sizes:
                frame[2] += sizes[id(child)]
            elif id(child) in known and known[id(child)][0] is child:
                frame[2] += known[id(child)][1]
            elif id(child) in active:  # a namespace holding itself: printed as [...]
                frame[2] += 5
            else:
                nested = _children(child)
                if nested is None:
                    frame[2] += _leaf(child)
                else:
                    active.add(id(child))
                    frames.append([child, nested[1], nested[0]])
                    frame = frames[-1]
        if frame[2] > limit:  # any part's size is a lower bound of the whole
            return frame[2], visited


_CONTAINERS = (list, tuple, dict, set, frozenset, Cycler, Namespace)
_NUMBERS = frozenset({int, float})


def checked(budget: Budget, value: Any, what: str = "a value") -> Any:
    """``value``, once it is known to fit: a string by its length, a container by its printed size."""
    kind = type(value)
    if kind is str or kind is Markup:
        if len(value) > budget.max_value:
            budget.too_big(len(value), what)
    elif kind is int or kind is float or kind is bool or value is None:
        pass
    elif isinstance(value, str | bytes):
        budget.too_big(len(value), what)
    elif isinstance(value, _CONTAINERS) or (isinstance(value, Mapping) and not isinstance(value, Context)):
        budget.too_big(_size(budget, value), what)
    return value


_REMEMBER_FROM = 1024  # sizes worth remembering
_REMEMBERED = 16  # how many at most: what they keep alive is bounded


def remember(budget: Budget, value: Any, size: int) -> None:
    if size >= _REMEMBER_FROM and size <= budget.max_value:
        if len(budget.sizes) >= _REMEMBERED:
            del budget.sizes[next(iter(budget.sizes))]
        budget.sizes[id(value)] = (value, size)


def _size(budget: Budget, value: Any) -> int:
    """``value``'s printed size (:func:`weight`), remembered for the next time when it is big."""
    if isinstance(value, str | bytes):
        return len(value)
    known = budget.sizes.get(id(value))
    if known is not None and known[0] is value:
        return known[1]
    size = weight(value, budget.max_value, budget)[0]
    remember(budget, value, size)
    return size


def _int_arg(value: Any) -> int | None:
    return value if isinstance(value, int) else None


# --- operators -------------------------------------------------------------------------------------

_PRINTF_RE = re.compile(r"%(?:\(([^)]{0,256})\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+)?)?[hlL]?(.?)", re.S)


def check_printf(budget: Budget, fmt: Any, args: Any) -> None:
    """Refuse ``fmt % args`` (``%`` or the ``format`` filter) when its result would pass the value limit:
    the widths and precisions in ``fmt`` (``%0999999999d``, ``%*d``) and the size of each argument."""
    if isinstance(fmt, bytes):
        fmt = fmt.decode("latin-1")
    if not isinstance(fmt, str) or "%" not in fmt:
        return
    positional = iter(args if isinstance(args, tuple) else (args,))
    estimate = len(fmt)
    for match in _PRINTF_RE.finditer(fmt):
        budget.tick()
        key, width, precision, conversion = match.groups()
        if conversion == "%":
            continue
        for number in (width, precision):
            if number == "*":
                star = next(positional, 0)
                estimate += abs(star) if isinstance(star, int) else 0
            elif number:
                estimate += int(number) if len(number) <= 12 else 10**12
        value = args.get(key) if key is not None and isinstance(args, Mapping) else next(positional, None)
        estimate += _size(budget, value)
        budget.too_big(estimate, "the result of %")


def _check_mul(budget: Budget, left: Any, right: Any) -> int | None:
    """Refuse ``left * right`` when too big; the size of a repeated list or tuple, to remember."""
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise LimitExceeded(f"the product would have more than {MAX_INT_BITS:,} bits")
        return None
    for seq, n in ((left, right), (right, left)):
        if isinstance(n, int) and n > 1 and isinstance(seq, str | bytes | list | tuple):
            if len(seq) * n > budget.max_value:  # before weighing a long list
                budget.too_big(len(seq) * n, "the result of *")
            size = _size(budget, seq) * n
            budget.too_big(size, "the result of *")
            return size if isinstance(seq, list | tuple) else None
    return None


def _check_pow(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
        bits = abs(left).bit_length() * right
        if bits > MAX_INT_BITS:
            raise LimitExceeded(f"the power would have about {_approx(bits)} bits; at most {MAX_INT_BITS:,}")


def _check_add(budget: Budget, left: Any, right: Any) -> int | None:
    """Refuse ``left + right`` when too big; the size of two lists or tuples added, to remember."""
    if isinstance(left, str | bytes) and isinstance(right, str | bytes):
        budget.too_big(len(left) + len(right), "the result of +")
    elif isinstance(left, list | tuple) and isinstance(right, list | tuple):
        size = _size(budget, left) + _size(budget, right)
        budget.too_big(size, "the result of +")
        return size
    return None


# --- str.format ------------------------------------------------------------------------------------

_DIGITS_RE = re.compile(r"\d+")


def _check_spec(budget: Budget, spec: str) -> None:
    for digits in _DIGITS_RE.findall(spec):
        if len(digits) > 12 or int(digits) > budget.max_value:
            raise LimitExceeded(f"format width {digits[:20]} is above the limit of {budget.max_value:,}")


class _BoundedFormat(Formatter):
    """``str.format`` for templates: Jinja's sandboxed field lookup, widths checked, a running length.
    Mixed in before one of Jinja's sandboxed formatters (a ``Formatter`` too), whose methods ``super()``
    reaches; subclassing ``Formatter`` here only tells mypy those methods exist."""

    _total = 0

    def vformat(self, format_string: str, args: Any, kwargs: Any) -> str:
        self._total = len(format_string)
        return super().vformat(format_string, args, kwargs)

    def format_field(self, value: Any, format_spec: str) -> Any:
        budget = current()
        budget.tick()
        _check_spec(budget, format_spec)
        result = super().format_field(value, format_spec)
        self._total += len(result)
        budget.too_big(self._total, "the result of format()")
        return result


class _Formatter(_BoundedFormat, SandboxedFormatter):
    pass


class _EscapeFormatter(_BoundedFormat, SandboxedEscapeFormatter):
    pass


# --- methods ---------------------------------------------------------------------------------------


def _arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str, default: Any = None) -> Any:
    return args[index] if len(args) > index else kwargs.get(name, default)


def _width_method(budget: Budget, owner: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    width = _int_arg(_arg(args, kwargs, 0, "width"))
    if width is not None:
        budget.too_big(width, "the padded string")


def _expandtabs(budget: Budget, owner: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    size = _int_arg(_arg(args, kwargs, 0, "tabsize", 8))
    if size is not None and size > 1:
        tab = "\t" if isinstance(owner, str) else b"\t"
        budget.too_big(len(owner) + owner.count(tab) * size, "the expanded string")


def replaced_size(text: Any, old: Any, new: Any, count: Any = -1) -> int:
    """How long ``text.replace(old, new, count)`` would be (text, old and new of one kind)."""
    occurrences = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        occurrences = min(occurrences, count)
    return len(text) + occurrences * (len(new) - len(old))


def _replace(budget: Budget, owner: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    old, new = _arg(args, kwargs, 0, "old"), _arg(args, kwargs, 1, "new")
    if isinstance(old, type(owner) | str) and isinstance(new, type(owner) | str) and type(old) is type(new):
        budget.too_big(replaced_size(owner, old, new, _arg(args, kwargs, 2, "count", -1)), "the replaced string")


def _translate(budget: Budget, owner: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    table = _arg(args, kwargs, 0, "table")
    values = table.values() if isinstance(table, Mapping) else table if isinstance(table, list | tuple) else ()
    longest = max((len(v) for v in values if isinstance(v, str | bytes)), default=1)
    budget.too_big(len(owner) * max(longest, 1), "the translated string")


def _to_bytes(budget: Budget, owner: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    length = _int_arg(_arg(args, kwargs, 0, "length", 1))
    if length is not None:
        budget.too_big(length, "the bytes")


_METHOD_GUARDS: dict[str, Callable[[Budget, Any, tuple[Any, ...], Mapping[str, Any]], None]] = {
    "center": _width_method, "ljust": _width_method, "rjust": _width_method, "zfill": _width_method,
    "expandtabs": _expandtabs, "replace": _replace, "translate": _translate,
}


def bounded_join(budget: Budget, separator: Any, items: Iterable[Any], what: str = "the joined string") -> list[Any]:
    """The items of a join, taken one by one and given up as soon as the joined string would pass the
    value limit (the items as they are: the caller joins them)."""
    step = len(separator) if isinstance(separator, str | bytes) else 0
    total = -step
    collected = []
    for item in items:
        total += step + (len(item) if isinstance(item, str | bytes) else _size(budget, item))
        budget.too_big(total, what)
        collected.append(item)
        if not len(collected) & 63:
            budget.tick(4)
    return collected


# --- globals ---------------------------------------------------------------------------------------


def _range(*args: int) -> range:
    """Jinja's ``range`` (at most MAX_RANGE items), each item counted against the render's operations."""
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise LimitExceeded(f"range of {_approx(len(rng))} items; at most {MAX_RANGE:,}")
    current().tick(len(rng) // 4)
    return rng


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    budget = current()
    if isinstance(n, int) and isinstance(max, int):
        budget.too_big(n * max * 12, "lipsum()")
        budget.tick(abs(n * max) // 16)
    return generate_lorem_ipsum(n, html, min, max)


# --- filters ---------------------------------------------------------------------------------------


def _pre_center(budget: Budget, value: Any, width: Any = 80, *_: Any, **__: Any) -> None:
    if isinstance(width, int):
        budget.too_big(max(width, len(soft_str(value))), "the centred string")


def _pre_indent(budget: Budget, s: Any, width: Any = 4, *_: Any, **kwargs: Any) -> None:
    width = kwargs.get("width", width)
    unit = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    budget.too_big(unit, "the indentation")
    text = soft_str(s)
    lines = len(text.splitlines()) + 2
    budget.too_big(len(text) + lines * unit, "the indented string")


def _pre_wordwrap(budget: Budget, s: Any, width: Any = 79, break_long_words: Any = True, wrapstring: Any = None,
                  *_: Any, **kwargs: Any) -> None:
    width = kwargs.get("width", width)
    wrapstring = kwargs.get("wrapstring", wrapstring)
    text = soft_str(s)
    if not isinstance(width, int) or width <= 0:
        return  # textwrap refuses it
    separator = len(wrapstring) if isinstance(wrapstring, str) else 1
    expanded = len(text) + 7 * text.count("\t")  # textwrap expands tabs to 8 spaces first
    breaks = sum(map(text.count, "\t\n\x0b\x0c\r -"))  # where textwrap may end a line
    lines = min(expanded, expanded // width + breaks) + 1
    budget.too_big(expanded + lines * separator, "the wrapped string")
    # textwrap's work grows with its chunks and lines (100,000 tabs at width 1 took 3 s of CPU)
    budget.tick(breaks + lines)


def _pre_replace(budget: Budget, s: Any, old: Any = "", new: Any = "", count: Any = None, **kwargs: Any) -> None:
    count = kwargs.get("count", count)
    size = replaced_size(soft_str(s), soft_str(old), soft_str(new), -1 if count is None else count)
    budget.too_big(size, "the replaced string")  # escaping, with autoescape, is checked on the result


def _pre_format(budget: Budget, value: Any, *args: Any, **kwargs: Any) -> None:
    check_printf(budget, soft_str(value), kwargs or args)


def _pre_batch(budget: Budget, value: Any, linecount: Any = 1, fill_with: Any = None, **kwargs: Any) -> None:
    fill_with = kwargs.get("fill_with", fill_with)
    if fill_with is not None and isinstance(linecount, int):
        budget.too_big(linecount * max(1, _size(budget, fill_with)), "a batch with its filling")


def _pre_slice(budget: Budget, value: Any, slices: Any = 1, *_: Any, **__: Any) -> None:
    if isinstance(slices, int) and slices > MAX_RANGE:
        raise LimitExceeded(f"slice into {_approx(slices)} parts; at most {MAX_RANGE:,}")


def _pre_round(budget: Budget, value: Any, precision: Any = 0, *_: Any, **kwargs: Any) -> None:
    precision = kwargs.get("precision", precision)
    if isinstance(precision, int) and abs(precision) > 1000:
        raise LimitExceeded(f"round to {_approx(precision)} digits; at most 1,000")


_PRECHECKS: dict[str, Callable[..., None]] = {
    "center": _pre_center, "indent": _pre_indent, "wordwrap": _pre_wordwrap, "replace": _pre_replace,
    "format": _pre_format, "batch": _pre_batch, "slice": _pre_slice, "round": _pre_round,
}


def _join_filter(original: Callable[..., Any]) -> Callable[..., Any]:
    @pass_context
    def join(context: Context, value: Any, d: Any = "", attribute: Any = None) -> Any:
        budget = current()
        budget.tick()
        if attribute is not None:
            value = map(make_attrgetter(context.environment, attribute), value)
        items = bounded_join(budget, soft_str(d), value)
        return checked(budget, original(context.eval_ctx, items, d))
    return join


def _sum_filter(original: Callable[..., Any]) -> Callable[..., Any]:
    @pass_context
    def sum_(context: Context, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
        budget = current()
        budget.tick()
        if attribute is not None:
            iterable = map(make_attrgetter(context.environment, attribute), iterable)
        items = list(iterable)
        budget.tick(len(items) // 16)
        if isinstance(start, int | float) and all(isinstance(x, int | float) for x in items):
            return sum(items, start)  # integers grow by a bit at most per item
        if isinstance(start, list | tuple) and all(isinstance(x, type(start)) for x in items):
            # Lists added up: one list extended as it goes (sum() would copy the total at every step),
            # its size counted as it grows.
            total, size = list(start), _size(budget, start)
            for item in items:
                size += _size(budget, item)
                budget.too_big(size, "the result of +")
                total += item
            return tuple(total) if isinstance(start, tuple) else total
        total = start
        for item in items:  # anything else: each step sized, as + would be
            budget.tick()
            _check_add(budget, total, item)
            total = total + item
        return total
    return sum_


def _urlencode_filter(original: Callable[..., Any]) -> Callable[..., Any]:
    @pass_context
    def urlencode(context: Context, value: Any) -> Any:
        budget = current()
        budget.tick()
        if not isinstance(value, str | Mapping):
            value = list(value)
        checked(budget, value)
        return checked(budget, original(value))
    return urlencode


_REPLACEMENTS: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "join": _join_filter, "sum": _sum_filter, "urlencode": _urlencode_filter,
}


def _guarded_filter(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """``original`` counted against the budget, sized first when it can grow a value, its result checked.

    Every guarded filter takes the context, which also keeps Jinja from folding a filter on constants
    at compile time (``{{ 'a'|center(10**9) }}`` would otherwise run while the template is saved)."""
    if name in _REPLACEMENTS:
        return update_wrapper(_REPLACEMENTS[name](original), original, updated=())
    pass_arg = getattr(original, "jinja_pass_arg", None)
    pre = _PRECHECKS.get(name)
    kind = getattr(pass_arg, "name", None)
    what = f"the result of |{name}"
    # One closure per way of calling the original: this runs for every filter of every render.
    if kind is None:
        def guarded(context: Context, *args: Any, **kwargs: Any) -> Any:
            budget = _state.budget or Budget(_limits)
            budget.operations -= 1  # budget.tick(), inline: this runs for every filter of every render
            if budget.operations < budget.clock_at:
                budget.check()
            if pre is not None:
                pre(budget, *args, **kwargs)
            result = original(*args, **kwargs)
            if type(result) is str and len(result) <= budget.max_value:
                return result
            return checked(budget, result, what)
    elif kind == "context":
        def guarded(context: Context, *args: Any, **kwargs: Any) -> Any:
            budget = _state.budget or Budget(_limits)
            budget.operations -= 1  # budget.tick(), inline: this runs for every filter of every render
            if budget.operations < budget.clock_at:
                budget.check()
            if pre is not None:
                pre(budget, *args, **kwargs)
            result = original(context, *args, **kwargs)
            if type(result) is str and len(result) <= budget.max_value:
                return result
            return checked(budget, result, what)
    elif kind == "eval_context":
        def guarded(context: Context, *args: Any, **kwargs: Any) -> Any:
            budget = _state.budget or Budget(_limits)
            budget.operations -= 1  # budget.tick(), inline: this runs for every filter of every render
            if budget.operations < budget.clock_at:
                budget.check()
            if pre is not None:
                pre(budget, *args, **kwargs)
            result = original(context.eval_ctx, *args, **kwargs)
            if type(result) is str and len(result) <= budget.max_value:
                return result
            return checked(budget, result, what)
    else:
        def guarded(context: Context, *args: Any, **kwargs: Any) -> Any:
            budget = _state.budget or Budget(_limits)
            budget.operations -= 1  # budget.tick(), inline: this runs for every filter of every render
            if budget.operations < budget.clock_at:
                budget.check()
            if pre is not None:
                pre(budget, *args, **kwargs)
            result = original(context.environment, *args, **kwargs)
            if type(result) is str and len(result) <= budget.max_value:
                return result
            return checked(budget, result, what)
    return pass_context(update_wrapper(guarded, original, updated=()))


@pass_context
def _iterate(context: Context, iterable: Any) -> Iterator[Any]:
    """What every ``{% for %}`` loops over: the iterable, each item counted."""
    budget = current()
    for item in iterable:
        budget.operations -= 1  # budget.tick(), inline
        if budget.operations < budget.clock_at:
            budget.check()
        yield item


@pass_context
def _literal(context: Context, value: Any) -> Any:
    """A list, tuple or dict literal with variable parts: weighed as it would print."""
    budget = current()
    budget.tick()
    return checked(budget, value, "the literal")


_ITERATE, _LITERAL = "_tl_iterate", "_tl_literal"


def _static(node: nodes.Node) -> bool:
    if isinstance(node, nodes.Const):
        return True
    if isinstance(node, nodes.List | nodes.Tuple):
        return all(_static(item) for item in node.items)
    if isinstance(node, nodes.Dict):
        return all(_static(pair.key) and _static(pair.value) for pair in node.items)
    return False


class _Guards(NodeTransformer):
    """Rewrites a parsed template: every ``{% for %}`` loops over ``_tl_iterate(...)``, every list, tuple
    or dict literal with variable parts is weighed by ``_tl_literal``."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, _ITERATE, [], [], None, None, lineno=node.lineno)
        return node

    def _literal(self, node: nodes.Expr) -> nodes.Node:
        self.generic_visit(node)
        if _static(node):
            return node
        return nodes.Filter(node, _LITERAL, [], [], None, None, lineno=node.lineno)

    def visit_List(self, node: nodes.List) -> nodes.Node:
        return self._literal(node)

    def visit_Dict(self, node: nodes.Dict) -> nodes.Node:
        return self._literal(node)

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        if node.ctx != "load":  # an assignment target: {% for k, v in ... %}
            self.generic_visit(node)
            return node
        return self._literal(node)


def _str_join(seq: Iterable[Any]) -> str:
    """``~`` without autoescape: each operand printed, the total checked before joining."""
    budget = current()
    parts, total = [], 0
    for value in seq:
        text = str(value)
        total += len(text)
        budget.too_big(total, "the result of ~")
        parts.append(text)
    return "".join(parts)


def _markup_join(seq: Iterable[Any]) -> str:
    """``~`` with autoescape (escaping can grow the parts up to six times)."""
    budget = current()
    parts, total = [], 0
    for value in seq:
        text = soft_str(value)
        total += len(text) if isinstance(text, Markup) else len(text) * 6
        budget.too_big(total, "the result of ~")
        parts.append(text)
    return markup_join(parts)


# --- the environment -------------------------------------------------------------------------------


class Sandbox(ImmutableSandboxedEnvironment):
    """Immutable sandbox whose violations raise instead of rendering as empty, and whose every render is
    bounded by the budget of the thread's render (:func:`swap_budget`).

    Jinja's sandbox turns an unsafe attribute into an Undefined that only fails when used further; with
    ChainableUndefined (so that missing traits render empty) it would fail silently. We want the attempt
    to be loud.
    """

    intercepted_binops = frozenset(["+", "-", "*", "/", "//", "%", "**"])

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = _range
        self.globals["lipsum"] = _lipsum
        for name, original in list(self.filters.items()):
            self.filters[name] = _guarded_filter(name, original)
        self.filters[_ITERATE] = _iterate
        self.filters[_LITERAL] = _literal

    def add_filter(self, name: str, original: Callable[..., Any]) -> None:
        self.filters[name] = _guarded_filter(name, original)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = _Guards().visit(super()._parse(source, name, filename))
        tree.set_environment(self)
        return tree

    def from_string(self, source: str | nodes.Template, globals: MutableMapping[str, Any] | None = None,
                    template_class: type[Template] | None = None) -> Template:
        template = super().from_string(source, globals, template_class)
        namespace = template.root_render_func.__globals__  # the compiled module's own namespace
        if "str_join" not in namespace or "markup_join" not in namespace:  # Jinja changed how ~ compiles
            raise RuntimeError("unexpected Jinja2 code generation: ~ would not be bounded")
        namespace["str_join"] = _str_join
        namespace["markup_join"] = _markup_join
        return template

    @staticmethod
    def concat(parts: Iterable[str]) -> str:
        """Joins what a macro, a ``{% call %}`` body or a ``{% set %}...{% endset %}`` block wrote."""
        parts = parts if isinstance(parts, list) else list(parts)
        current().too_big(sum(map(len, parts)), "a captured block")
        return "".join(parts)

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        # A flat dict rather than Jinja's ChainMap over the environment's globals: every render copies
        # the globals into its context, and copying a ChainMap costs a tenth of rendering a short part.
        # Our globals never change after the environment is built.
        return {**self.globals, **(d or {})}

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Context objects are data: ``cart.items`` is the cart's items (or undefined), never ``dict.items``.
        # Loop over a mapping with the ``items`` filter: ``{% for k, v in profile.traits|items %}``.
        if type(obj) is dict:  # most lookups (``profile.traits.name``): spare the ABC check below
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
            member = getattr(obj, attribute, None)
            if member is None or self.is_safe_attribute(obj, attribute, member):
                return self.undefined(obj=obj, name=attribute)
            # ``__class__``, ``update``...: an attempt on the sandbox, not a missing value.
        return super().getattr(obj, attribute)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Jinja's sandboxed ``str.format`` / ``format_map``, with our bounded formatters."""
        if not isinstance(value, types.MethodType | types.BuiltinMethodType) \
                or value.__name__ not in ("format", "format_map"):
            return None
        f_self: Any = value.__self__
        if not isinstance(f_self, str):
            return None
        str_type: type[str] = type(f_self)
        is_format_map = value.__name__ == "format_map"
        formatter: Formatter = (_EscapeFormatter(self, escape=f_self.escape) if isinstance(f_self, Markup)
                                else _Formatter(self))

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs:
                    raise TypeError("format_map() takes no keyword arguments")
                if len(args) != 1:
                    raise TypeError(f"format_map() takes exactly one argument ({len(args)} given)")
                kwargs, args = args[0], ()
            return str_type(formatter.vformat(f_self, args, kwargs))

        return update_wrapper(wrapper, value)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = _state.budget or Budget(_limits)
        budget.operations -= 1  # budget.tick(), inline
        if budget.operations < budget.clock_at:
            budget.check()
        numbers = _NUMBERS  # arithmetic on plain numbers: only * and ** can grow them
        if type(left) in numbers and type(right) in numbers and operator != "**" \
                and (operator != "*" or type(left) is float or type(right) is float):
            return self.binop_table[operator](left, right)
        size = None
        if operator == "*":
            size = _check_mul(budget, left, right)
        elif operator == "**":
            _check_pow(left, right)
        elif operator == "+":
            size = _check_add(budget, left, right)
        elif operator == "%" and isinstance(left, str | bytes):
            check_printf(budget, left, right)
        result = self.binop_table[operator](left, right)
        if size is not None:
            remember(budget, result, size)
        return result

    def call(self, __context: Context, __obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        budget = current()
        budget.tick()
        if not self.is_safe_callable(__obj):
            raise SecurityError(f"{__obj!r} is not safely callable")
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str | bytes):
            name = getattr(__obj, "__name__", "")
            if name == "join" and args and not kwargs:
                items = bounded_join(budget, owner, args[0])
                return checked(budget, __context.call(__obj, items))
            guard = _METHOD_GUARDS.get(name)
            if guard is not None:
                guard(budget, owner, args, kwargs)
        elif isinstance(owner, int) and getattr(__obj, "__name__", "") == "to_bytes":
            _to_bytes(budget, owner, args, kwargs)
        return checked(budget, __context.call(__obj, *args, **kwargs), "the result of a call")


# --- save-time checks ------------------------------------------------------------------------------

# What Jinja's sandbox refuses on internal objects (frames, code, generators, types), whatever the prefix.
_INTERNAL_NAMES = frozenset({"mro", "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await",
                             "ag_frame", "ag_code", "ag_await", "f_globals", "f_locals", "f_builtins", "f_code",
                             "f_back", "tb_frame", "tb_next", "co_code", "func_globals", "func_code"})
# Methods that change a list, dict, set or deque: the immutable sandbox refuses to call them.
_MUTATING_NAMES = frozenset({"append", "extend", "insert", "pop", "popitem", "remove", "clear", "update",
                             "setdefault", "sort", "reverse", "add", "discard", "difference_update",
                             "intersection_update", "symmetric_difference_update", "appendleft", "extendleft",
                             "popleft", "rotate"})
_ATTRIBUTE_FILTERS = frozenset({"attr", "map", "sort", "groupby", "sum", "unique", "min", "max", "selectattr",
                                "rejectattr", "join", "dictsort"})


def _private_name(name: str) -> str | None:
    if name.startswith("__"):
        return f"{name!r} starts with '__' (internal names are off limits)"
    if name.startswith("_"):
        return f"{name!r} starts with '_' (internal names are off limits; for a data key, write x[{name!r}])"
    if name in _INTERNAL_NAMES:
        return f"{name!r} is an internal attribute"
    return None


def _format_fields(text: str) -> Iterator[tuple[str, str]]:
    """``(field name, format spec)`` of every replacement field of a ``str.format`` string, nested ones too."""
    try:
        parsed = list(Formatter().parse(text))
    except ValueError:
        return
    for _, field_name, spec, _ in parsed:
        if field_name is not None:
            yield field_name, spec or ""
            if spec and "{" in spec:
                yield from _format_fields(spec)


def _field_attributes(field_name: str) -> Iterator[str]:
    try:
        _, rest = formatter_field_name_split(field_name)
        for is_attr, key in rest:
            if is_attr or isinstance(key, str):
                yield str(key)
    except ValueError:
        return


def _widths(text: str, printf: bool) -> Iterator[int]:
    if printf:
        for match in _PRINTF_RE.finditer(text):
            for number in match.group(2, 3):
                if number and number != "*":
                    yield int(number) if len(number) <= 12 else 10**12
    else:
        for _, spec in _format_fields(text):
            for digits in _DIGITS_RE.findall(spec):
                yield int(digits) if len(digits) <= 12 else 10**12


def unsafe_constructs(tree: nodes.Template, limits: RenderLimits) -> list[tuple[int, str]]:
    """``(line, reason)`` for what the sandbox would refuse when rendering, found in the parsed template
    without rendering it: internal attribute names (``''.__class__``, ``x['__globals__']``,
    ``'{0.__class__}'.format(x)``, ``|attr('__class__')``, ``|map(attribute='__dict__')``), calls to methods
    that change a value (``traits.update(...)``), and format widths above the value limit in constant
    format strings (``'%0999999999d' % 1``, ``'{:>1000000000}'.format(1)``)."""
    found: list[tuple[int, str]] = []

    def width_check(line: int, text: str, printf: bool, what: str) -> None:
        for width in _widths(text, printf):
            if width > limits.max_value:
                found.append((line, f"{what} has a width of {_approx(width)}; at most {limits.max_value:,}"))
                return

    for attribute in tree.find_all(nodes.Getattr):
        reason = _private_name(attribute.attr)
        if reason:
            found.append((attribute.lineno, f"attribute {reason}"))
    for item in tree.find_all(nodes.Getitem):
        if isinstance(item.arg, nodes.Const) and isinstance(item.arg.value, str) and item.arg.value.startswith("__"):
            found.append((item.lineno, f"item {_private_name(item.arg.value)}"))
    for call in tree.find_all(nodes.Call):
        if isinstance(call.node, nodes.Getattr):
            method = call.node.attr
            if method in _MUTATING_NAMES:
                found.append((call.lineno, f".{method}() changes a value: templates are read-only "
                                           f"(the sandbox refuses it)"))
            target = call.node.node
            if method in ("format", "format_map") and isinstance(target, nodes.Const) \
                    and isinstance(target.value, str):
                for field_name, _ in _format_fields(target.value):
                    for name in _field_attributes(field_name):
                        reason = _private_name(name)
                        if reason:
                            found.append((call.lineno, f"format field {{{field_name}}}: {reason}"))
                width_check(call.lineno, target.value, False, "the format string")
    for modulo in tree.find_all(nodes.Mod):
        if isinstance(modulo.left, nodes.Const) and isinstance(modulo.left.value, str):
            width_check(modulo.lineno, modulo.left.value, True, "the % format string")
    for filter_node in tree.find_all(nodes.Filter):
        if (filter_node.name == "format" and isinstance(filter_node.node, nodes.Const)
                and isinstance(filter_node.node.value, str)):
            width_check(filter_node.lineno, filter_node.node.value, True, "the |format string")
        if filter_node.name in _ATTRIBUTE_FILTERS:
            values = [*filter_node.args, *(kw.value for kw in filter_node.kwargs if kw.key == "attribute")]
            for value in values:
                if isinstance(value, nodes.Const) and isinstance(value.value, str):
                    for name in value.value.split("."):
                        reason = _private_name(name)
                        if reason:
                            found.append((filter_node.lineno, f"|{filter_node.name}: {reason}"))
    return sorted(set(found))
