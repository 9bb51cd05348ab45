"""Message templates written by marketers: sandboxed Jinja2, one variant per locale, parts per channel.

A template is checked once when it is saved (:func:`validate_template` compiles every part and reports
syntax errors and unknown filters with their part, locale and line) and rendered per customer
(:meth:`CompiledTemplate.render`). Rendering is pure: the customer's locale and time zone come in as
arguments, nothing is read from the environment or the clock.

- Dots read data: on a mapping, ``x.name`` is ``x["name"]`` or undefined, never a dict method.
- Undefined variables render empty (``{{ profile.traits.nickname }}`` or chained
  ``{{ cart.items.0.name }}``), so a customer without a trait still gets the message; use
  ``{{ profile.traits.name|default("고객") }}`` for a fallback.
- Sandbox violations (``{{ ''.__class__ }}``, ``{{ "{0.__class__}".format(x) }}``, calling
  ``.update()`` on the context, ``"a" * 10**9``) raise :class:`TemplateSecurityError`.
- Only the ``html`` part is autoescaped; ``text``, ``subject``, SMS and push parts are plain text.
- Filters: ``krw`` (``59000|krw`` -> ``59,000원`` in ko, ``₩59,000`` in en) and ``date`` (in the
  customer's time zone: ``event.timestamp|date``, ``|date("date")``, ``|date("%Y-%m-%d")``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import html as htmllib
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from html.parser import HTMLParser
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import ChainableUndefined, Template, TemplateSyntaxError, pass_context
from jinja2 import meta as jinja_meta
from jinja2 import nodes as jinja_nodes
from jinja2.runtime import Context
from jinja2.sandbox import SecurityError
from markupsafe import Markup

from touchline.channels import CHANNEL_PARTS
from touchline.errors import TouchlineError, ValidationFailed, field_error
from touchline.messaging import adaptive
from touchline.messaging import functions as template_functions
from touchline.messaging.context import sample_variables
from touchline.messaging.sandbox import (
    Budget,
    LimitExceeded,
    RenderLimits,
    Sandbox,
    current_limits,
    swap_budget,
    unsafe_constructs,
)
from touchline.messaging.types import RenderedContent, language_of

__all__ = [
    "CHANNEL_PARTS",
    "CompiledTemplate",
    "MessageTemplate",
    "TemplateRenderError",
    "TemplateSecurityError",
    "format_date",
    "format_krw",
    "html_to_text",
    "render_template",
    "validate_template",
]

# CHANNEL_PARTS (touchline.channels): channel -> (required parts, optional parts). Email needs html or
# text (checked separately).
# Parts that end up in a header or a notification title: one line, whitespace collapsed.
_ONE_LINE_PARTS = ("subject", "title", "url")
_LANG_RE = re.compile(r"^[a-z]{2,3}$")
# Output chunks a part streams between two checks of its length. A chunk is a piece of the template's
# text or one {{ }} value, each bounded by the value limit, so a batch holds at most this many of them.
_CHUNKS = 16


class TemplateRenderError(TouchlineError):
    """A saved template failed for one customer (e.g. arithmetic on a missing value)."""

    status = 422


class TemplateSecurityError(TemplateRenderError):
    """The template tried to leave the sandbox."""


class TemplateLimitError(TemplateSecurityError):
    """The template went over its render limits (time, operations, the size of a value or of its output):
    a hostile or mistaken template costs its author this error, and nobody else anything."""


# --- filters ---------------------------------------------------------------------------------------


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            return None
        number = Decimal(str(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            return None
    else:
        return None
    return number if number.is_finite() else None


def format_krw(value: Any, locale: str | None = "ko") -> str:
    """``59000`` -> ``59,000원`` (ko) or ``₩59,000`` (other locales). KRW has no minor unit: amounts are
    rounded half up to whole won. A value that is not a number comes back as text, unchanged."""
    if type(value) is int:  # the common case needs no rounding (and bool, an int subclass, is not a number)
        won = value
        if abs(won) >= 10**24:
            return str(value)
    else:
        number = _number(value)
        if number is None:
            return "" if value is None else str(value)
        if abs(number) >= Decimal(10) ** 24:
            return str(value)
        won = int(number.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    sign, digits = ("-" if won < 0 else ""), f"{abs(won):,}"
    return f"{sign}{digits}원" if language_of(locale) == "ko" else f"{sign}₩{digits}"


def _as_datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)  # a calendar date has no time zone
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            moment = dt.datetime.fromtimestamp(value, dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def format_date(value: Any, fmt: str | None = None, *, locale: str | None = "ko", timezone: str | None = None) -> str:
    """A moment in the customer's time zone. Naive datetimes are UTC (Touchline stores UTC).

    ``fmt``: ``None`` / ``"datetime"`` (``2024년 5월 3일 14:05`` / ``May 3, 2024 14:05``), ``"date"``,
    ``"time"``, or a ``strftime`` pattern. A value that is not a date comes back as text.
    """
    moment = _as_datetime(value)
    if moment is None:
        return "" if value is None else str(value)
    zone = _zone(timezone)
    if zone is not None and moment.tzinfo is not None:  # a plain date came back naive: not converted
        try:
            moment = moment.astimezone(zone)
        except (OverflowError, ValueError):
            return str(value)
    ko = language_of(locale) == "ko"
    day = f"{moment.year}년 {moment.month}월 {moment.day}일" if ko else f"{moment:%b} {moment.day}, {moment.year}"
    clock = f"{moment:%H:%M}"
    if fmt in (None, "datetime"):
        return f"{day} {clock}"
    if fmt == "date":
        return day
    if fmt == "time":
        return clock
    try:
        return moment.strftime(str(fmt))
    except ValueError:
        return str(value)


@pass_context
def _krw_filter(context: Context, value: Any) -> str:
    return format_krw(value, context.get("locale"))


@pass_context
def _date_filter(context: Context, value: Any, fmt: str | None = None) -> str:
    return format_date(value, fmt, locale=context.get("locale"), timezone=context.get("timezone"))


def _environment(autoescape: bool) -> Sandbox:
    env = Sandbox(autoescape=autoescape, undefined=ChainableUndefined, keep_trailing_newline=False)
    env.add_filter("krw", _krw_filter)
    env.add_filter("date", _date_filter)
    return env


_HTML_ENV = _environment(autoescape=True)
_TEXT_ENV = _environment(autoescape=False)


# --- html -> text ----------------------------------------------------------------------------------

_BLOCK_TAGS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol",
               "section", "article", "header", "footer", "blockquote", "hr"}


class _TooSlow(Exception):
    pass


# Python's HTMLParser rescans the rest of the document for every tag, comment or marked section that does
# not close (``"<a " * 20000``, 60 KB, took minutes): a template's HTML is made linear to read first, and
# the parser still gives up after _HTML_SECONDS of CPU for a crude text of what is left.
_HTML_SECONDS = 1.0
_UNCLOSED_LT_RE = re.compile(r"<(?=[^<>]*(?:<|\Z))|<(?=!\[)")  # no > before the next <; <![ sections
_CRUDE_TAG_RE = re.compile(r"<[^<>]*>")


def _readable_html(html: str) -> str:
    """``html`` with its comments dropped (an unclosed one runs to the end) and every ``<`` that opens
    nothing escaped, in one pass each."""
    if "<!--" in html:
        kept, i = [], 0
        while (start := html.find("<!--", i)) >= 0:
            kept.append(html[i:start])
            end = html.find("-->", start + 4)
            if end < 0:
                i = len(html)
                break
            i = end + 3
        kept.append(html[i:])
        html = "".join(kept)
    return _UNCLOSED_LT_RE.sub("&lt;", html)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0
        self._href: list[str | None] = []
        self._steps = 0
        self._deadline = time.thread_time() + _HTML_SECONDS

    def _step(self) -> None:
        self._steps += 1
        if not self._steps & 255 and time.thread_time() > self._deadline:
            raise _TooSlow

    def parse_starttag(self, i: int) -> int:
        self._step()
        return super().parse_starttag(i)

    def parse_endtag(self, i: int) -> int:
        self._step()
        return super().parse_endtag(i)

    def parse_html_declaration(self, i: int) -> int:
        self._step()
        return super().parse_html_declaration(i)

    def parse_pi(self, i: int) -> int:
        self._step()
        return super().parse_pi(i)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head", "title"):
            self._skip += 1
        elif tag == "a":
            self._href.append(dict(attrs).get("href"))
        elif tag == "li":
            self.out.append("\n- ")
        elif tag in _BLOCK_TAGS:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title"):
            self._skip = max(0, self._skip - 1)
        elif tag == "a" and self._href:
            href = self._href.pop()
            if href and href.startswith(("http://", "https://")):
                self.out.append(f" ({href})")
        elif tag in _BLOCK_TAGS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        self._step()
        if not self._skip:
            self.out.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """A readable plain-text alternative of an HTML body: block elements become lines, links keep their
    address in brackets, scripts and styles are dropped. In time linear in the HTML's length, whatever
    it holds (a crude text, tags dropped, for HTML too tangled to read in a second)."""
    parser = _TextExtractor()
    try:
        parser.feed(_readable_html(html))
        parser.close()
        text = "".join(parser.out)
    except _TooSlow:
        text = htmllib.unescape(re.sub(r"[ \t\r\f\v]+", " ", _CRUDE_TAG_RE.sub(" ", html)))
    lines = [line.strip() for line in text.splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --- templates -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageTemplate:
    """What a marketer saves: per locale, the channel's parts as Jinja2 source.

    ``variants = {"ko": {"subject": "...", "html": "..."}, "en": {...}}``. A messenger variant may carry
    ``template_code`` (the provider's pre-approved template, a literal) and ``params``
    (``{"name": "{{ profile.traits.name }}"}``, each value Jinja2 source).
    """

    key: str
    channel: str
    variants: Mapping[str, Mapping[str, Any]]
    default_locale: str = "ko"
    version: int = 1
    # Adaptive blocks (touchline.messaging.adaptive): name -> rules and a default; parts show them with
    # {{ blocks.name }}.
    blocks: Mapping[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MessageTemplate:
        return cls(key=str(data.get("key", "")), channel=str(data.get("channel", "")),
                   variants=data.get("variants") or {}, default_locale=str(data.get("default_locale", "ko")),
                   version=int(data.get("version", 1)), blocks=data.get("blocks") or None)


@dataclass(frozen=True)
class _Part:
    field: str  # variants.ko.html, variants.ko.params.name
    name: str  # html, subject, params...: which output limit applies
    template: Template
    streamed: bool = True  # output checked as it comes; else joined, then checked (see _few_chunks)
    names: frozenset[str] = frozenset()  # the variables it reads from its scope (undeclared in it)


@dataclass(frozen=True)
class CompiledTemplate:
    """A validated template, every part compiled; render it as often as needed."""

    template: MessageTemplate
    _parts: Mapping[str, Mapping[str, _Part]] = field(repr=False)  # locale -> part name -> compiled
    _params: Mapping[str, Mapping[str, _Part]] = field(repr=False)  # locale -> param name -> compiled
    # block -> (rule index, or None for the default; locale) -> {"text": part, "html": part (e-mail only)}
    _blocks: Mapping[str, Mapping[tuple[int | None, str], Mapping[str, _Part]]] = field(
        default_factory=dict, repr=False)

    def choose_blocks(self, audience: adaptive.Audience) -> dict[str, int | None]:
        """Which rule of each block ``audience`` gets (None: the block's default)."""
        return {name: adaptive.choose(block, audience) for name, block in (self.template.blocks or {}).items()}

    @functools.cached_property
    def names(self) -> frozenset[str]:
        """Every variable some part, parameter or block of the template reads (a template's names are
        all in its source: the sandbox gives it no way to look one up by a computed name). What a renderer
        need not supply when it is not here: the functions and variables layers above provide
        (:func:`touchline.messaging.functions.bind`, :func:`touchline.messaging.context.variables`)."""
        parts = [*(p for by_name in self._parts.values() for p in by_name.values()),
                 *(p for by_name in self._params.values() for p in by_name.values()),
                 *(p for versions in self._blocks.values() for kinds in versions.values() for p in kinds.values())]
        return frozenset().union(*(p.names for p in parts))

    @property
    def locales(self) -> tuple[str, ...]:
        return tuple(self._parts)

    def choose_locale(self, customer_locale: str | None) -> str:
        """``ko-KR`` -> ``ko`` when the template has a ko variant, else the template's default."""
        lang = language_of(customer_locale)
        return lang if lang is not None and lang in self._parts else self.template.default_locale

    def render(self, context: Mapping[str, Any], *, locale: str | None = None, timezone: str | None = None,
               text_alternative: bool = True, limits: RenderLimits | None = None,
               audience: adaptive.Audience | None = None) -> RenderedContent:
        """Render for one customer. ``context`` holds ``profile``, ``event``, ``cart``,
        ``unsubscribe_url``...; ``locale`` and ``timezone`` are the customer's (``ko-KR``,
        ``Asia/Seoul``) and are also visible to the template. An e-mail without a ``text`` part gets
        ``html_to_text(html)`` as its text, unless ``text_alternative`` is false (the outbox: the SMTP
        channel derives it from the committed HTML when it builds the message, the same function of
        the same HTML, and the decide loop saves the HTML parse).

        The whole message renders under one budget (``limits``, by default the process's: see
        :mod:`touchline.messaging.sandbox`); going over it raises :class:`TemplateLimitError` naming the
        part and the limit.

        A template with adaptive blocks shows each block's content for ``audience`` (the first rule that
        holds, else the default; see :mod:`touchline.messaging.adaptive`); without one, the audience is read
        from ``context["profile"]`` (its traits and locale; no device, segments or local hour)."""
        chosen = self.choose_locale(locale)
        variables = {**context, "locale": chosen, "timezone": timezone}
        scopes: dict[int, dict[str, Any]] = {}  # per environment: its globals and the variables, made once
        out: dict[str, Any] = {}
        budget = Budget(limits or current_limits())
        outer = swap_budget(budget)  # what the sandbox's hooks count against
        try:
            if self._blocks:
                self._render_blocks(variables, chosen, audience, scopes, budget)
            for name, part in self._parts[chosen].items():
                out[name] = _render_part(part, variables, scopes, budget)
            params = {name: _render_part(part, variables, scopes, budget)
                      for name, part in self._params[chosen].items()} if self._params[chosen] else {}
        finally:
            swap_budget(outer)
        for name in _ONE_LINE_PARTS:
            if name in out:
                out[name] = " ".join(out[name].split())
        code = self.template.variants[chosen].get("template_code")
        if text_alternative and self.template.channel == "email" and "text" not in out and out.get("html"):
            out["text"] = html_to_text(out["html"])
        return RenderedContent(locale=chosen, template_code=str(code) if code else None, params=params, **out)


    def _render_blocks(self, variables: Mapping[str, Any], locale: str, audience: adaptive.Audience | None,
                       scopes: dict[int, dict[str, Any]], budget: Budget) -> None:
        """Render each block's chosen content once per environment (plain text; autoescaped HTML, then
        marked safe) and put them in that environment's scope as ``blocks``. A block's content sees the
        same variables as the parts, but not the other blocks."""
        if audience is None:
            profile = variables.get("profile")
            audience = adaptive.audience_for(profile if isinstance(profile, Mapping) else {}, dt.datetime.now(dt.UTC))
            audience = dataclasses.replace(audience, local_hour=None)
        own: dict[int, dict[str, Any]] = {}
        shown: dict[str, dict[str, Any]] = {"text": {}, "html": {}}
        for name, rule in self.choose_blocks(audience).items():
            versions = self._blocks[name]
            compiled = versions.get((rule, locale)) or versions[(rule, self.template.default_locale)]
            for kind, part in compiled.items():
                text = _render_part(part, variables, own, budget)
                shown[kind][name] = Markup(text) if kind == "html" else text
        scopes[id(_TEXT_ENV)] = {**_TEXT_ENV.globals, **variables, "blocks": shown["text"]}
        scopes[id(_HTML_ENV)] = {**_HTML_ENV.globals, **variables, "blocks": shown["html"] or shown["text"]}


def _render_part(part: _Part, variables: Mapping[str, Any], scopes: dict[int, dict[str, Any]],
                 budget: Budget) -> str:
    """``part.template.render(variables)``, with the template's top-level scope (its globals and the
    variables) built once per environment for all the parts of a message rather than copied twice for
    each part (``_compile`` gives no template globals of its own). The scope is only read: assignments in
    a template go to its own context, and the sandbox is immutable. The output is streamed with a running
    length: a part stops at its limit instead of being built whole first."""
    template = part.template
    scope = scopes.get(id(template.environment))
    if scope is None:
        scope = scopes[id(template.environment)] = {**template.globals, **variables}
    limit = budget.limits.output_limit(part.name)
    try:
        stream = template.root_render_func(template.new_context(scope, shared=True))
        if not part.streamed:
            text = "".join(stream)
            if len(text) > limit:
                raise LimitExceeded(f"the output is longer than {limit:,} characters")
            return text
        pieces: list[str] = []
        length = 0
        while True:  # in batches: a loop in C per batch rather than one in Python per chunk
            batch = list(islice(stream, _CHUNKS))
            piece = "".join(batch)
            length += len(piece)
            if length > limit:
                raise LimitExceeded(f"the output is longer than {limit:,} characters")
            if len(batch) < _CHUNKS:
                return "".join((*pieces, piece)) if pieces else piece
            pieces.append(piece)
    except (LimitExceeded, RecursionError, MemoryError) as exc:
        reason = str(exc) if isinstance(exc, LimitExceeded) else \
            "macros or loops nested too deep" if isinstance(exc, RecursionError) else "out of memory"
        raise TemplateLimitError(f"template went over its limits in {part.field}: {reason}",
                                 [field_error(part.field, "render limit exceeded", message=reason)]) from None
    except SecurityError as exc:
        raise TemplateSecurityError(f"template blocked: {exc}",
                                    [field_error(part.field, "sandbox violation", message=str(exc))]) from exc
    except Exception as exc:  # re-raised as a domain error naming the part, never swallowed
        raise TemplateRenderError(f"template failed in {part.field}: {exc}",
                                  [field_error(part.field, type(exc).__name__, message=str(exc))]) from exc


def _compile(env: Sandbox, source: Any, where: str, name: str, errors: list[dict[str, Any]],
             limits: RenderLimits | None) -> _Part | None:
    """One part compiled; with ``limits`` (saving), also refused when longer than the part may render or
    when it holds what the sandbox would refuse (:func:`~touchline.messaging.sandbox.unsafe_constructs`)."""
    if not isinstance(source, str):
        errors.append(field_error(where, "must be a string"))
        return None
    if limits is not None and len(source) > limits.output_limit(name):
        errors.append(field_error(where, f"longer than {limits.output_limit(name):,} characters, the most a "
                                         f"{name} part may render"))
        return None
    try:
        tree = env.parse(source)
        if limits is not None:
            refused = unsafe_constructs(tree, limits)
            for line, reason in refused:
                errors.append(field_error(where, f"refused by the sandbox: {reason}", line=line))
            if refused:
                return None
        names = frozenset(jinja_meta.find_undeclared_variables(tree))  # before compiling: it may fold the tree
        return _Part(where, name, env.from_string(tree), streamed=not _few_chunks(tree), names=names)
    except TemplateSyntaxError as exc:  # includes TemplateAssertionError: unknown filter or test
        errors.append(field_error(where, exc.message or str(exc), line=exc.lineno))
    except RecursionError:
        errors.append(field_error(where, "nested too deeply to compile"))
    except (ValueError, OverflowError) as exc:  # an integer literal too long to read, ...
        errors.append(field_error(where, str(exc)))
    return None


_FEW_CHUNKS = 16


def _few_chunks(tree: jinja_nodes.Template) -> bool:
    """Whether a part yields at most _FEW_CHUNKS pieces of output whatever the data: no loop anywhere, and
    few outputs. Each piece is at most a value's size (what a macro or a block returns is one piece, its
    length checked), so such a part may be joined first and checked after, in C, which is most parts."""
    if any(True for _ in tree.find_all(jinja_nodes.For)):
        return False
    return sum(len(output.nodes) for output in tree.find_all(jinja_nodes.Output)) <= _FEW_CHUNKS


def _sample_context(locale: str) -> dict[str, Any]:
    """What a save-time trial render sees: a customer with the usual traits, an empty event."""
    traits = {"name": "Sample", "firstName": "Sample", "email": "sample@example.com", "phone": "010-0000-0000"}
    return {**sample_variables(),
            "profile": {"id": "sample", "user_id": "sample", "traits": traits, "locale": locale,
                        "timezone": "Asia/Seoul"},
            "event": {}, "cart": {}, "journey": {}, "survey": {"name": "nps", "scale": "nps"}, "message_id": "sample",
            "unsubscribe_url": "https://example.invalid/u/sample",
            **template_functions.bind(template_functions.sample_scope(locale))}


def _trial_render(compiled: CompiledTemplate, limits: RenderLimits, errors: list[dict[str, Any]]) -> None:
    """Render every locale once for a sample customer under the limits: what the sandbox refuses for
    anyone (a loop of a billion iterations, a string of a gigabyte, ``''.__class__``) is refused now.
    Failures that depend on the customer's data (arithmetic on a missing trait) are not the author's
    mistake yet and pass."""
    for locale in compiled.locales:
        try:
            compiled.render(_sample_context(locale), locale=locale, timezone="Asia/Seoul", limits=limits)
        except TemplateSecurityError as exc:
            for detail in exc.detail or ():
                errors.append(field_error(detail["field"], f"{detail['reason']}: {detail.get('message')} (tried "
                                                           "with a sample customer)"))
        except TemplateRenderError:
            pass


def validate_template(template: MessageTemplate | Mapping[str, Any], *, strict: bool = False,
                      limits: RenderLimits | None = None) -> CompiledTemplate:
    """Check a template: channel and parts known, required parts present in every locale, the default
    locale present, every part compiling. Raises ``ValidationFailed`` with
    ``detail=[{"field": "variants.ko.html", "reason": ..., "line": 3}, ...]`` listing every problem.

    ``strict`` (saving a template) checks what rendering would refuse as well, with the reason: a part
    longer than it may render, names and format widths the sandbox refuses (``''.__class__``,
    ``'%0999999999d' % 1``), and a trial render for a sample customer under ``limits`` (by default the
    process's). Without it (compiling a stored template, a journey's webhook body) rendering still
    enforces every limit, for each customer."""
    if not isinstance(template, MessageTemplate):
        template = MessageTemplate.from_dict(template)
    save_limits = (limits or current_limits()) if strict else None
    errors: list[dict[str, Any]] = []
    if template.channel not in CHANNEL_PARTS:
        raise ValidationFailed(f"unknown channel {template.channel!r}",
                               [field_error("channel", f"channels are {', '.join(CHANNEL_PARTS)}")])
    required, optional = CHANNEL_PARTS[template.channel]
    if not template.variants or not isinstance(template.variants, Mapping):
        errors.append(field_error("variants", "at least one locale variant is required"))
    elif template.default_locale not in template.variants:
        errors.append(field_error("default_locale", f"no variant for the default locale {template.default_locale!r}"))
    parts: dict[str, dict[str, _Part]] = {}
    params: dict[str, dict[str, _Part]] = {}
    for locale, variant in (template.variants or {}).items():
        base = f"variants.{locale}"
        if not _LANG_RE.match(str(locale)):
            errors.append(field_error(base, "locale must be a language code such as 'ko' or 'en'"))
            continue
        if not isinstance(variant, Mapping):
            errors.append(field_error(base, "must be an object of parts"))
            continue
        parts[locale], params[locale] = {}, {}
        for name in required:
            if not variant.get(name):
                errors.append(field_error(f"{base}.{name}", "required"))
        if template.channel == "email" and not (variant.get("html") or variant.get("text")):
            errors.append(field_error(f"{base}.html", "an email needs an html or a text body"))
        for name, source in variant.items():
            where = f"{base}.{name}"
            if name not in required and name not in optional:
                errors.append(field_error(where, f"unknown part for {template.channel}; parts are "
                                                 f"{', '.join(required + optional)}"))
            elif name == "template_code":
                if not isinstance(source, str) or not source.strip():
                    errors.append(field_error(where, "must be the provider's template code"))
            elif name == "params":
                if not isinstance(source, Mapping):
                    errors.append(field_error(where, "must be an object of name -> template"))
                    continue
                for pname, psource in source.items():
                    compiled = _compile(_TEXT_ENV, psource, f"{where}.{pname}", "params", errors, save_limits)
                    if compiled:
                        params[locale][str(pname)] = compiled
            elif source is not None:
                env = _HTML_ENV if name == "html" else _TEXT_ENV
                compiled = _compile(env, source, where, name, errors, save_limits)
                if compiled:
                    parts[locale][name] = compiled
    locales = [str(k) for k in template.variants] if isinstance(template.variants, Mapping) else []
    block_errors = adaptive.check_blocks(template.blocks, locales, template.default_locale)
    errors.extend(block_errors)
    before = len(errors)
    blocks = {} if block_errors else _compile_blocks(template, locales, errors, save_limits)
    if len(errors) > before:  # a content that did not compile: the trial render goes on without the blocks
        blocks = {}
    compiled_template = CompiledTemplate(template, parts, params, blocks)
    if save_limits is not None:  # the parts that compiled, even when others did not: every problem at once
        _trial_render(compiled_template, save_limits, errors)
    if not errors:
        return compiled_template
    in_block = next((e for e in errors if str(e.get("field", "")).startswith("blocks.")), None)
    first = (f": block {in_block['field'].split('.')[1]!r}, {in_block['field']}: {in_block['reason']}"
             if in_block else "")
    raise ValidationFailed(f"template {template.key!r} has {len(errors)} problem(s){first}", errors)


def _compile_blocks(template: MessageTemplate, locales: list[str], errors: list[dict[str, Any]],
                    limits: RenderLimits | None) -> dict[str, dict[tuple[int | None, str], dict[str, _Part]]]:
    """Every content of every block, for every locale of the template, compiled as plain text and (for
    e-mail, whose html part may show it) as autoescaped HTML; errors name the block's field. A content
    given per locale that lacks one shows the default locale's there."""
    out: dict[str, dict[tuple[int | None, str], dict[str, _Part]]] = {}
    kinds = ("text", "html") if template.channel == "email" else ("text",)
    for name, block in (template.blocks or {}).items():
        out[name] = {}
        choices: list[tuple[int | None, Any, str]] = [
            (i, rule["content"], f"blocks.{name}.rules.{i}.content") for i, rule in enumerate(block.get("rules", []))]
        choices.append((None, block["default"], f"blocks.{name}.default"))
        for index, content, where in choices:
            for locale in locales:
                if isinstance(content, str):
                    source, at = content, where
                elif locale in content:
                    source, at = content[locale], f"{where}.{locale}"
                else:
                    continue
                parts = {}
                for kind in kinds:
                    part = _compile(_HTML_ENV if kind == "html" else _TEXT_ENV, source, at, kind, errors, limits)
                    if part is not None:
                        parts[kind] = part
                if len(parts) == len(kinds):
                    out[name][(index, locale)] = parts
                if isinstance(content, str) and len(parts) < len(kinds):
                    break  # one source: its errors once, not once per locale
    return out


def render_template(template: MessageTemplate | Mapping[str, Any], context: Mapping[str, Any], *,
                    locale: str | None = None, timezone: str | None = None) -> RenderedContent:
    """Validate and render in one call (for previews); keep the :class:`CompiledTemplate` when rendering
    the same template for many customers."""
    return validate_template(template).render(context, locale=locale, timezone=timezone)
